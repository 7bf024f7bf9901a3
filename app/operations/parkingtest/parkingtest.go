// Package parkingtest holds the contract every parking of held lanes keeps.
package parkingtest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"shop/app/operations"
)

// Parking runs the contract on a parking that open returns empty.
func Parking(t *testing.T, open func(t *testing.T) operations.Parking) {
	ctx := context.Background()
	a := operations.Lane{Handler: "notifications.orders.p3", AggregateID: "order-a"}
	b := operations.Lane{Handler: "notifications.orders.p3", AggregateID: "order-b"}
	other := operations.Lane{Handler: "inventory.orders.p3", AggregateID: "order-a"}

	t.Run("a block is kept until the message that holds the lane frees it", func(t *testing.T) {
		p := open(t)
		must(t, p.Block(ctx, operations.Block{Lane: a, MessageID: "m2", Version: 2}))
		must(t, p.Block(ctx, operations.Block{Lane: other, MessageID: "m2", Version: 2}))
		blocks, err := p.Blocks(ctx, a.Handler)
		must(t, err)
		if want := []operations.Block{{Lane: a, MessageID: "m2", Version: 2}}; !reflect.DeepEqual(blocks, want) {
			t.Fatalf("blocks of %s: %+v, want %+v", a.Handler, blocks, want)
		}
		if all, err := p.Blocks(ctx, ""); err != nil || len(all) != 2 {
			t.Fatalf("every block: %+v %v", all, err)
		}
		// A later message replaces the block; the earlier one cannot free it.
		must(t, p.Block(ctx, operations.Block{Lane: a, MessageID: "m3", Version: 3}))
		must(t, p.Unblock(ctx, operations.Block{Lane: a, MessageID: "m2"}))
		if blocks, _ := p.Blocks(ctx, a.Handler); len(blocks) != 1 || blocks[0].MessageID != "m3" || blocks[0].Version != 3 {
			t.Fatalf("blocks after a stale unblock: %+v", blocks)
		}
		// A late predecessor's block does not replace a later one's.
		must(t, p.Block(ctx, operations.Block{Lane: a, MessageID: "m1", Version: 1}))
		if blocks, _ := p.Blocks(ctx, a.Handler); len(blocks) != 1 || blocks[0].MessageID != "m3" {
			t.Fatalf("blocks after an earlier version's block: %+v", blocks)
		}
		must(t, p.Unblock(ctx, operations.Block{Lane: a, MessageID: "m3"}))
		if blocks, _ := p.Blocks(ctx, a.Handler); len(blocks) != 0 {
			t.Fatalf("blocks after the unblock: %+v", blocks)
		}
	})

	t.Run("parked messages come back in version order, once each", func(t *testing.T) {
		p := open(t)
		at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
		park := func(l operations.Lane, id string, version int) operations.ParkedMessage {
			m := operations.ParkedMessage{
				Lane: l, MessageID: id, AggregateVersion: version, Topic: "events.order.p3",
				Payload: []byte(`{"v":` + id + `}`), Metadata: map[string]string{"name": "order.confirmed"}, ParkedAt: at,
			}
			must(t, p.Park(ctx, m))
			at = at.Add(time.Second)
			return m
		}
		m4 := park(a, "4", 4)
		m3 := park(a, "3", 3)
		park(a, "3", 3) // delivered again
		park(b, "7", 7)
		park(other, "3", 3)
		got, err := p.Parked(ctx, a)
		must(t, err)
		if want := []operations.ParkedMessage{m3, m4}; !reflect.DeepEqual(got, want) {
			t.Fatalf("parked of %v:\n%+v\nwant\n%+v", a, got, want)
		}
		counts, err := p.Count(ctx)
		must(t, err)
		if want := map[operations.Lane]int{a: 2, b: 1, other: 1}; !reflect.DeepEqual(counts, want) {
			t.Fatalf("counts %v, want %v", counts, want)
		}
		must(t, p.Redact(ctx, a, "4", []byte(`{"v":"erased"}`)))
		must(t, p.Redact(ctx, a, "no such message", []byte(`{}`)))
		if got, _ := p.Parked(ctx, a); len(got) != 2 || string(got[1].Payload) != `{"v":"erased"}` || string(got[0].Payload) != string(m3.Payload) {
			t.Fatalf("parked after a redaction: %+v", got)
		}
		must(t, p.Unpark(ctx, a, "3"))
		if got, _ := p.Parked(ctx, a); len(got) != 1 || got[0].MessageID != "4" {
			t.Fatalf("parked after unparking 3: %+v", got)
		}
		if got, _ := p.Parked(ctx, other); len(got) != 1 {
			t.Fatalf("unparking a's message unparked another handler's: %+v", got)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
