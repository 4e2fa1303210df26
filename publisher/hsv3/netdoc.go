package hsv3

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// This file holds the tokenizer and writer for tor's "network document"
// text format (dir-spec §1.2), shared by all three descriptor layers:
//
//	Keyword [Arg ...] NL
//	[-----BEGIN Tag----- NL base64 lines -----END Tag----- NL]

// item is one keyword line with its optional object.
type item struct {
	keyword string
	args    []string
	object  *object
	offset  int // byte offset of the keyword line in the document
	line    int // 1-based line number of the keyword line
}

type object struct {
	tag  string // e.g. "ED25519 CERT"
	data []byte // decoded base64 body
}

// tokenize splits a document into items. Every line must be non-empty and
// must not start with whitespace; the last line may lack its newline.
func tokenize(doc []byte) ([]item, error) {
	var items []item
	lines := splitLines(doc)
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		if len(ln.text) == 0 {
			return nil, fmt.Errorf("%w: line %d is empty", ErrMalformed, i+1)
		}
		if ln.text[0] == ' ' || ln.text[0] == '\t' {
			return nil, fmt.Errorf("%w: line %d starts with whitespace", ErrMalformed, i+1)
		}
		if strings.HasPrefix(ln.text, "-----") {
			return nil, fmt.Errorf("%w: line %d: object without a keyword line", ErrMalformed, i+1)
		}
		fields := splitArgs(ln.text)
		it := item{keyword: fields[0], args: fields[1:], offset: ln.offset, line: i + 1}
		if !validKeyword(it.keyword) {
			return nil, fmt.Errorf("%w: line %d: invalid keyword %q", ErrMalformed, i+1, it.keyword)
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1].text, "-----BEGIN ") {
			obj, next, err := parseObject(lines, i+1)
			if err != nil {
				return nil, fmt.Errorf("%w: %q object: %w", ErrMalformed, it.keyword, err)
			}
			it.object = obj
			i = next - 1
		}
		items = append(items, it)
	}
	return items, nil
}

type docLine struct {
	text   string
	offset int
}

func splitLines(doc []byte) []docLine {
	var lines []docLine
	for off := 0; off < len(doc); {
		end := bytes.IndexByte(doc[off:], '\n')
		if end < 0 {
			lines = append(lines, docLine{string(doc[off:]), off})
			break
		}
		lines = append(lines, docLine{string(doc[off : off+end]), off})
		off += end + 1
	}
	return lines
}

// splitArgs splits a line on runs of spaces and tabs.
func splitArgs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

func validKeyword(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return true
}

// parseObject parses the object starting at lines[start] and returns the
// index of the line after it.
func parseObject(lines []docLine, start int) (*object, int, error) {
	begin := lines[start].text
	if !strings.HasSuffix(begin, "-----") || len(begin) <= len("-----BEGIN ")+len("-----") {
		return nil, 0, fmt.Errorf("line %d: malformed BEGIN line", start+1)
	}
	tag := begin[len("-----BEGIN ") : len(begin)-len("-----")]
	end := "-----END " + tag + "-----"
	var body strings.Builder
	for i := start + 1; i < len(lines); i++ {
		if lines[i].text == end {
			data, err := decodeBase64(body.String())
			if err != nil {
				return nil, 0, fmt.Errorf("line %d: %w", start+2, err)
			}
			return &object{tag: tag, data: data}, i + 1, nil
		}
		if strings.HasPrefix(lines[i].text, "-----") {
			return nil, 0, fmt.Errorf("line %d: want %q", i+1, end)
		}
		body.WriteString(lines[i].text)
	}
	return nil, 0, fmt.Errorf("line %d: %s has no %q line", start+1, tag, end)
}

// decodeBase64 decodes standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("invalid base64: contains a line break")
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %v", err)
	}
	return b, nil
}

// decodeBase64Size decodes base64 that must hold exactly n bytes.
func decodeBase64Size(s string, n int) ([]byte, error) {
	b, err := decodeBase64(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), n)
	}
	return b, nil
}

// itemsByKeyword groups items by keyword.
func itemsByKeyword(items []item) map[string][]item {
	m := make(map[string][]item)
	for _, it := range items {
		m[it.keyword] = append(m[it.keyword], it)
	}
	return m
}

// rule is a tokenizer rule: how often a keyword may appear, how many
// arguments it needs and whether it carries an object.
type rule struct {
	min, max  int // occurrences; max 0 = unlimited
	minArgs   int
	objectTag string // "" = no object allowed
}

// checkRules applies rules to items (unknown keywords are ignored).
func checkRules(items []item, rules map[string]rule) (map[string][]item, error) {
	m := itemsByKeyword(items)
	for kw, r := range rules {
		got := m[kw]
		if len(got) < r.min {
			if r.min == 1 {
				return nil, fmt.Errorf("%w: missing %q", ErrMalformed, kw)
			}
			return nil, fmt.Errorf("%w: %q appears %d times, want at least %d", ErrMalformed, kw, len(got), r.min)
		}
		if r.max > 0 && len(got) > r.max {
			return nil, fmt.Errorf("%w: %q appears %d times, want at most %d", ErrMalformed, kw, len(got), r.max)
		}
		for _, it := range got {
			if len(it.args) < r.minArgs {
				return nil, fmt.Errorf("%w: line %d: %q has %d arguments, want at least %d", ErrMalformed, it.line, kw, len(it.args), r.minArgs)
			}
			switch {
			case r.objectTag == "" && it.object != nil:
				return nil, fmt.Errorf("%w: line %d: %q must not have an object", ErrMalformed, it.line, kw)
			case r.objectTag != "" && it.object == nil:
				return nil, fmt.Errorf("%w: line %d: %q has no %s object", ErrMalformed, it.line, kw, r.objectTag)
			case r.objectTag != "" && it.object.tag != r.objectTag:
				return nil, fmt.Errorf("%w: line %d: %q object is %q, want %q", ErrMalformed, it.line, kw, it.object.tag, r.objectTag)
			}
		}
	}
	return m, nil
}

// writeObject appends a PEM-style object: base64 with padding, 64 columns,
// every line newline-terminated (the END line included).
func writeObject(b *bytes.Buffer, tag string, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	b.WriteString("-----BEGIN " + tag + "-----\n")
	for len(enc) > 64 {
		b.WriteString(enc[:64])
		b.WriteByte('\n')
		enc = enc[64:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
	b.WriteString("-----END " + tag + "-----\n")
}
