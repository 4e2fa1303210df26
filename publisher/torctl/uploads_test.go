package torctl

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUploadTracker(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fpC := strings.Repeat("C", 40)
	tr, err := NewUploadTracker(testAddr, []string{fpA, "$" + strings.ToLower(fpB) + "~x", fpC, fpA}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Done(now) {
		t.Fatal("Done before any event")
	}
	other := strings.Replace(testAddr, "p", "q", 1)
	steps := []struct {
		ev   Event
		took bool
	}{
		{Uploaded{Address: other, HSDir: fpA}, false},        // other service
		{DescFailed{Address: testAddr, HSDir: fpA}, false},   // a fetch, not an upload
		{Uploaded{Address: testAddr, HSDir: fpA}, true},      //
		{UploadFailed{Address: testAddr, HSDir: fpA}, false}, // first result wins
		{UploadFailed{Address: strings.ToUpper(testAddr), HSDir: fpB, Reason: "UPLOAD_REJECTED"}, true},
		{Uploaded{Address: testAddr, HSDir: strings.Repeat("D", 40)}, false}, // not a target
	}
	for i, s := range steps {
		if got := tr.Observe(s.ev); got != s.took {
			t.Errorf("step %d: Observe(%#v) = %v, want %v", i, s.ev, got, s.took)
		}
	}
	if tr.Complete() || tr.Done(now) {
		t.Error("complete with one HSDir still pending")
	}
	want := []UploadResult{
		{HSDir: fpA, Outcome: OutcomeUploaded},
		{HSDir: fpB, Outcome: OutcomeFailed, Reason: "UPLOAD_REJECTED"},
		{HSDir: fpC, Outcome: OutcomePending},
	}
	if got := tr.Results(now); !reflect.DeepEqual(got, want) {
		t.Errorf("Results before deadline = %+v, want %+v", got, want)
	}
	late := now.Add(time.Minute)
	if !tr.Done(late) {
		t.Error("not Done at the deadline")
	}
	want[2].Outcome = OutcomeTimedOut
	if got := tr.Results(late); !reflect.DeepEqual(got, want) {
		t.Errorf("Results at deadline = %+v, want %+v", got, want)
	}
	if !tr.Observe(Uploaded{Address: testAddr, HSDir: fpC}) || !tr.Complete() {
		t.Error("last HSDir did not complete the tracker")
	}

	if _, err := NewUploadTracker(testAddr, []string{"nope"}, now); err == nil {
		t.Error("NewUploadTracker accepted a bad fingerprint")
	}
}
