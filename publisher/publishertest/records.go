package publishertest

import (
	"context"
	"maps"
	"sync"

	"github.com/obcluster/obcluster/store/record"
)

// Records is an in-memory publisher.Records. It does not fence: the epoch of writes is ignored.
type Records struct {
	mu        sync.Mutex
	instances map[string]map[string]record.Instance // by service, instance address
	published map[string]map[string]record.Publish  // by service, blinded-key hex
	writes    int
}

// NewRecords returns empty records.
func NewRecords() *Records {
	return &Records{instances: map[string]map[string]record.Instance{}, published: map[string]map[string]record.Publish{}}
}

// Writes counts the writes and deletes so far.
func (s *Records) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Instances returns the instance records of svc.
func (s *Records) Instances(_ context.Context, svc string) ([]record.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []record.Instance
	for _, r := range s.instances[svc] {
		out = append(out, r)
	}
	return out, nil
}

// PublishedAll returns the publish records of svc by blinded-key hex.
func (s *Records) PublishedAll(_ context.Context, svc string) (map[string]record.Publish, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]record.Publish{}
	for k, v := range s.published[svc] {
		v.HSDirs = maps.Clone(v.HSDirs)
		out[k] = v
	}
	return out, nil
}

// PutInstance stores rec for svc.
func (s *Records) PutInstance(_ context.Context, _ int64, svc string, rec record.Instance) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instances[svc] == nil {
		s.instances[svc] = map[string]record.Instance{}
	}
	s.instances[svc][rec.Address] = rec
	s.writes++
	return nil
}

// PutPublished stores rec for svc under blindedHex.
func (s *Records) PutPublished(_ context.Context, _ int64, svc, blindedHex string, rec record.Publish) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.published[svc] == nil {
		s.published[svc] = map[string]record.Publish{}
	}
	rec.HSDirs = maps.Clone(rec.HSDirs)
	s.published[svc][blindedHex] = rec
	s.writes++
	return nil
}

// RecordKeys lists the records of every service that has any.
func (s *Records) RecordKeys(context.Context) (map[string]record.ServiceKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]record.ServiceKeys{}
	for svc, m := range s.instances {
		r := out[svc]
		for inst := range m {
			r.Instances = append(r.Instances, inst)
		}
		out[svc] = r
	}
	for svc, m := range s.published {
		r := out[svc]
		for bhex := range m {
			r.Published = append(r.Published, bhex)
		}
		out[svc] = r
	}
	return out, nil
}

// DeleteRecords deletes the instance records insts and the publish records published of svc.
func (s *Records) DeleteRecords(_ context.Context, _ int64, svc string, insts, published []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inst := range insts {
		delete(s.instances[svc], inst)
	}
	for _, bhex := range published {
		delete(s.published[svc], bhex)
	}
	s.writes++
	return nil
}
