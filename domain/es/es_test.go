package es_test

import (
	"testing"

	"shop/domain/es"
)

type happened struct{}

func (happened) EventName() string { return "test.happened" }

func TestRootCountsReplayedAndTrackedEvents(t *testing.T) {
	t.Parallel()
	r := es.NewRoot("a-1")
	r.Replayed()
	r.Replayed()
	if r.Version() != 2 || r.StoredVersion() != 2 || len(r.Changes()) != 0 {
		t.Fatalf("after history: version %d stored %d changes %d", r.Version(), r.StoredVersion(), len(r.Changes()))
	}
	r.Track(happened{})
	if r.Version() != 3 || r.StoredVersion() != 2 || len(r.Changes()) != 1 {
		t.Fatalf("after change: version %d stored %d changes %d", r.Version(), r.StoredVersion(), len(r.Changes()))
	}
	r.MarkStored()
	if r.Version() != 3 || r.StoredVersion() != 3 || r.Changes() != nil {
		t.Fatalf("after store: version %d stored %d changes %v", r.Version(), r.StoredVersion(), r.Changes())
	}
	if r.ID() != "a-1" {
		t.Fatalf("id %q", r.ID())
	}
}

func TestEventTypeNameComesFromTheEvent(t *testing.T) {
	t.Parallel()
	et := es.EventType{SchemaVersion: 1, New: func() es.Event { return &happened{} }}
	if et.Name() != "test.happened" {
		t.Fatalf("name %q", et.Name())
	}
}
