package eventstoretest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"shop/app/eventstore"
)

// Snapshots runs the contract of a snapshot store on stores made by open.
func Snapshots(t *testing.T, open func(t *testing.T) eventstore.Snapshots) {
	ctx := context.Background()
	snap := func(id string, version int, state string) eventstore.Snapshot {
		return eventstore.Snapshot{AggregateType: "stock", AggregateID: id, Version: version, Schema: 1, State: []byte(state), TakenAt: t0}
	}
	t.Run("the latest version is kept", func(t *testing.T) {
		s := open(t)
		id := uuid.NewString()
		if _, found, err := s.Latest(ctx, "stock", id); err != nil || found {
			t.Fatalf("a stream without a snapshot: %v %v", found, err)
		}
		for _, in := range []eventstore.Snapshot{snap(id, 100, `{"v":100}`), snap(id, 300, `{"v":300}`), snap(id, 200, `{"v":200}`)} {
			if err := s.Save(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		got, found, err := s.Latest(ctx, "stock", id)
		if err != nil || !found || got.Version != 300 || string(got.State) != `{"v":300}` || got.Schema != 1 || !got.TakenAt.Equal(t0) ||
			got.AggregateType != "stock" || got.AggregateID != id {
			t.Fatalf("latest: %+v %v %v", got, found, err)
		}
		// A rebuild at the same version, of another schema, replaces it.
		again := snap(id, 300, `{"v":"300, again"}`)
		again.Schema, again.TakenAt = 2, t0.Add(time.Hour)
		if err := s.Save(ctx, again); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := s.Latest(ctx, "stock", id); got.Schema != 2 || string(got.State) != `{"v":"300, again"}` {
			t.Fatalf("after a rebuild: %+v", got)
		}
		if _, found, _ := s.Latest(ctx, "order", id); found {
			t.Fatal("another type's stream of the same id has a snapshot")
		}
	})
	t.Run("deleted by aggregate", func(t *testing.T) {
		s := open(t)
		gone, kept := uuid.NewString(), uuid.NewString()
		for _, in := range []eventstore.Snapshot{snap(gone, 100, `{}`), snap(kept, 100, `{}`)} {
			if err := s.Save(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, []string{gone}); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := s.Latest(ctx, "stock", gone); found {
			t.Fatal("a deleted snapshot is found")
		}
		if _, found, _ := s.Latest(ctx, "stock", kept); !found {
			t.Fatal("another stream's snapshot is gone")
		}
	})
}
