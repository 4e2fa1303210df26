package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// microResult holds the descriptor microbenchmarks, in nanoseconds per operation.
type microResult struct {
	OursEncode   float64 `json:"ours_encode_ns"`
	OursDecode   float64 `json:"ours_decode_ns"`
	PythonEncode float64 `json:"python_encode_ns"`
	PythonDecode float64 `json:"python_decode_ns"`
	Note         string  `json:"note,omitempty"`
}

// micro runs the Go benchmarks of package hsv3 and bench/stem_bench.py.
func (b *bench) micro(ctx context.Context) microResult {
	var res microResult
	var notes []string
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^Benchmark(Encode20|Decode20)$",
		"-benchtime", "3s", "-count", "1", "./publisher/hsv3/")
	cmd.Dir = b.repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		notes = append(notes, fmt.Sprintf("go test: %v: %s", err, lastLines(string(out), 5)))
	} else {
		res.OursEncode, res.OursDecode = goBenchNs(out, "BenchmarkEncode20"), goBenchNs(out, "BenchmarkDecode20")
	}
	cmd = exec.CommandContext(ctx, b.pythonInterp, filepath.Join(b.repo, "bench", "stem_bench.py"), "--seconds", "3")
	out, err = cmd.Output()
	if err != nil {
		notes = append(notes, fmt.Sprintf("stem_bench.py: %v", err))
	} else {
		var py struct {
			Encode float64 `json:"encode_ns"`
			Decode float64 `json:"decode_ns"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(out), &py); err != nil {
			notes = append(notes, fmt.Sprintf("stem_bench.py output: %v", err))
		}
		res.PythonEncode, res.PythonDecode = py.Encode, py.Decode
	}
	res.Note = strings.Join(notes, "; ")
	return res
}

// goBenchNs finds "BenchmarkX-N  iterations  123 ns/op" and returns 123.
func goBenchNs(out []byte, name string) float64 {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || (f[0] != name && !strings.HasPrefix(f[0], name+"-")) {
			continue
		}
		for i := 2; i+1 < len(f); i++ {
			if f[i+1] == "ns/op" {
				v, err := strconv.ParseFloat(f[i], 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
