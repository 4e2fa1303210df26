package hashring

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// scanner walks the keyword lines of a Tor directory document
// ("keyword arg arg ..."), skipping blank lines and PEM-style objects
// ("-----BEGIN X-----" ... "-----END X-----"). It works like bufio.Scanner:
// call scan until it returns false, then check err.
type scanner struct {
	doc  string // document name for errors
	text string
	pos  int // offset of the next unread byte
	num  int // number of the last line read

	line    int      // number of the current keyword line
	start   int      // offset of the current keyword line
	keyword string   // first field of the current line
	args    []string // remaining fields of the current line
	fields  []string // reused buffer behind keyword and args
	err     error
}

func newScanner(doc string, text string) *scanner {
	return &scanner{doc: doc, text: text}
}

// normalize turns CRLF line endings into LF and drops the empty lines that
// a control-port reply may put in front of the document. The result is
// what tor itself stored and hashed. It may share memory with text.
func normalize(text []byte) []byte {
	if bytes.IndexByte(text, '\r') >= 0 {
		text = bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))
	}
	return bytes.TrimLeft(text, "\n")
}

// readLine returns the next raw line without its newline.
func (s *scanner) readLine() (line string, start int, ok bool) {
	if s.pos >= len(s.text) {
		return "", 0, false
	}
	start = s.pos
	if i := strings.IndexByte(s.text[start:], '\n'); i >= 0 {
		line = s.text[start : start+i]
		s.pos = start + i + 1
	} else {
		line = s.text[start:]
		s.pos = len(s.text)
	}
	s.num++
	return line, start, true
}

// scan advances to the next keyword line.
func (s *scanner) scan() bool {
	if s.err != nil {
		return false
	}
	for {
		line, start, ok := s.readLine()
		if !ok {
			return false
		}
		if strings.HasPrefix(line, "-----BEGIN ") {
			if !s.skipObject() {
				return false
			}
			continue
		}
		s.fields = splitFields(s.fields[:0], line)
		if len(s.fields) == 0 {
			continue
		}
		s.line, s.start = s.num, start
		s.keyword, s.args = s.fields[0], s.fields[1:]
		return true
	}
}

// skipObject consumes lines up to and including the "-----END " line of an
// object whose BEGIN line was just read.
func (s *scanner) skipObject() bool {
	begin := s.num
	for {
		line, _, ok := s.readLine()
		if !ok {
			s.err = &ParseError{Doc: s.doc, Line: begin, Err: errors.New("object without -----END line")}
			return false
		}
		if strings.HasPrefix(line, "-----END ") {
			return true
		}
	}
}

// errorf builds a ParseError for the current line.
func (s *scanner) errorf(format string, args ...any) error {
	return &ParseError{Doc: s.doc, Line: s.line, Keyword: s.keyword, Err: fmt.Errorf(format, args...)}
}

// needArgs reports an error unless the current line has at least n arguments.
func (s *scanner) needArgs(n int) error {
	if len(s.args) < n {
		return s.errorf("need %d arguments, have %d", n, len(s.args))
	}
	return nil
}

// splitFields appends the space- or tab-separated fields of line to dst.
func splitFields(dst []string, line string) []string {
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > i {
			dst = append(dst, line[i:j])
		}
		i = j
	}
	return dst
}

// decodeBase64 decodes standard base64 with or without "=" padding into
// dst, which must be filled exactly.
func decodeBase64(dst []byte, s string) error {
	s = strings.TrimRight(s, "=")
	if base64.RawStdEncoding.DecodedLen(len(s)) != len(dst) {
		return fmt.Errorf("base64 %q does not hold %d bytes", s, len(dst))
	}
	n, err := base64.RawStdEncoding.Decode(dst, []byte(s))
	if err != nil {
		return fmt.Errorf("base64 %q: %w", s, err)
	}
	if n != len(dst) {
		return fmt.Errorf("base64 %q does not hold %d bytes", s, len(dst))
	}
	return nil
}
