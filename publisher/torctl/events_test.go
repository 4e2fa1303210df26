package torctl

import (
	"reflect"
	"strings"
	"testing"
)

// Lines tor 0.4.9.11 sent on a private test network for two HSPOSTs of one master descriptor to one HSDir:
// revision 1000000 (accepted), then 500000 (refused: the HSDir held a higher counter). A refused upload is
// reported like a failed fetch, with auth type NO_AUTH and the descriptor's blinded key.
const (
	realUploaded = "HS_DESC UPLOADED emrmrogv3qyvuen6b7oycpx3ehpk4cjjz7p27f2db7t3ssbhfaw36mqd UNKNOWN " +
		"$E10509F93BB34E4111BA470B2F9D30F5DABAA512~relay5"
	realUploadRejected = "HS_DESC FAILED emrmrogv3qyvuen6b7oycpx3ehpk4cjjz7p27f2db7t3ssbhfaw36mqd NO_AUTH " +
		"$E10509F93BB34E4111BA470B2F9D30F5DABAA512~relay5 ZJjoCoVP6868196O+sx2ZdN9Li03qclNLJfjPz7BP4Q REASON=UPLOAD_REJECTED"
	realAddr    = "emrmrogv3qyvuen6b7oycpx3ehpk4cjjz7p27f2db7t3ssbhfaw36mqd"
	realHSDir   = "E10509F93BB34E4111BA470B2F9D30F5DABAA512"
	realBlinded = "ZJjoCoVP6868196O+sx2ZdN9Li03qclNLJfjPz7BP4Q"
)

func TestParseEvent(t *testing.T) {
	blinded := strings.Repeat("x", 43)
	tests := []struct {
		name string
		text string
		want Event
	}{
		{"upload ok", "HS_DESC UPLOADED " + testAddr + " UNKNOWN $" + fpB + "~relay7",
			Uploaded{Address: testAddr, HSDir: fpB}},
		{"tor 0.4.9 upload accepted", realUploaded, Uploaded{Address: realAddr, HSDir: realHSDir}},
		{"tor 0.4.9 upload refused", realUploadRejected,
			UploadFailed{Address: realAddr, HSDir: realHSDir, Blinded: realBlinded, Reason: "UPLOAD_REJECTED"}},
		{"upload failed with auth UNKNOWN", "HS_DESC FAILED " + testAddr + " UNKNOWN $" + strings.ToLower(fpB) + "~r REASON=UPLOAD_REJECTED",
			UploadFailed{Address: testAddr, HSDir: fpB, Reason: "UPLOAD_REJECTED"}},
		{"fetch failed", "HS_DESC FAILED " + testAddr + " NO_AUTH $" + fpA + "~n " + blinded + " REASON=NOT_FOUND",
			DescFailed{Address: testAddr, HSDir: fpA, Blinded: blinded, Reason: "NOT_FOUND"}},
		{"fetch failed without HSDir", "HS_DESC FAILED " + testAddr + " NO_AUTH UNKNOWN  REASON=QUERY_NO_HSDIR",
			DescFailed{Address: testAddr, HSDir: "UNKNOWN", Reason: "QUERY_NO_HSDIR"}},
		{"fingerprint without nickname", "HS_DESC UPLOADED " + testAddr + " UNKNOWN $" + fpA,
			Uploaded{Address: testAddr, HSDir: fpA}},
		{"content", "HS_DESC_CONTENT " + testAddr + " " + blinded + " $" + fpA + "~n\r\nhs-descriptor 3\nsignature s",
			DescReceived{Address: testAddr, Blinded: blinded, HSDir: fpA, Descriptor: []byte("hs-descriptor 3\nsignature s\n")}},
		{"content keeps final newline", "HS_DESC_CONTENT " + testAddr + " " + blinded + " $" + fpA + "~n\r\nhs-descriptor 3\n",
			DescReceived{Address: testAddr, Blinded: blinded, HSDir: fpA, Descriptor: []byte("hs-descriptor 3\n")}},
		{"empty content", "HS_DESC_CONTENT " + testAddr + " " + blinded + " $" + fpA + "~n\r\n", nil},
		{"consensus arrived", "STATUS_CLIENT NOTICE CONSENSUS_ARRIVED", ConsensusArrived{Source: "STATUS_CLIENT"}},
		{"other status", "STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED", nil},
		{"new consensus", "NEWCONSENSUS\r\nr relay AAAA BBBB 2026-01-01 00:00:00 1.2.3.4 9001 0\ns Fast", ConsensusArrived{Source: "NEWCONSENSUS"}},
		{"requested ignored", "HS_DESC REQUESTED " + testAddr + " NO_AUTH $" + fpA + "~n " + blinded + " HSDIR_INDEX=00", nil},
		{"received ignored", "HS_DESC RECEIVED " + testAddr + " NO_AUTH $" + fpA + "~n " + blinded, nil},
		{"truncated", "HS_DESC UPLOADED " + testAddr, nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseEvent(tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseEvent(%q) = %#v, want %#v", tt.text, got, tt.want)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add("HS_DESC UPLOADED " + testAddr + " UNKNOWN $" + fpB + "~relay7")
	f.Add("HS_DESC FAILED a NO_AUTH $x~n b REASON=NOT_FOUND")
	f.Add(realUploadRejected)
	f.Add("HS_DESC_CONTENT a b $" + fpA + "\r\nbody")
	f.Add("STATUS_CLIENT NOTICE CONSENSUS_ARRIVED")
	f.Fuzz(func(t *testing.T, text string) {
		switch ev := parseEvent(text).(type) {
		case DescReceived:
			if len(ev.Descriptor) == 0 || ev.Descriptor[len(ev.Descriptor)-1] != '\n' {
				t.Errorf("descriptor %q does not end in a newline", ev.Descriptor)
			}
		}
	})
}

func BenchmarkParseEventContent(b *testing.B) {
	text := "HS_DESC_CONTENT " + testAddr + " " + strings.Repeat("x", 43) + " $" + fpA + "~n\r\n" +
		"hs-descriptor 3\n" + strings.Repeat(strings.Repeat("A", 63)+"\n", 800)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if parseEvent(text) == nil {
			b.Fatal("not parsed")
		}
	}
}
