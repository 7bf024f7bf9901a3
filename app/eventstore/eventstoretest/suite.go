// Package eventstoretest is the contract every event store adapter honours,
// as a suite each adapter's tests run against its own store.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"shop/app/eventstore"
	"shop/domain/es"
	"shop/domain/order"
)

// NewStore makes an empty store that encodes with codec.
type NewStore func(t *testing.T, codec eventstore.Codec) eventstore.Store

// Codec is the registry the suite's stores encode with.
func Codec(t *testing.T) eventstore.Codec {
	t.Helper()
	r, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: order.AggregateType, Events: order.Events()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Run runs the suite.
func Run(t *testing.T, newStore NewStore) {
	tests := map[string]func(*testing.T, eventstore.Store){
		"append and load keep every field":      appendAndLoad,
		"append at a stale version conflicts":   staleAppendConflicts,
		"concurrent writers: one wins each":     concurrentAppends,
		"version and unknown streams":           versions,
		"read filters":                          readFilters,
		"origins saved only over what was read": originsCompareAndSet,
		"an origin's records page by page":      originRecordsPages,
		"records of several aggregates refused": mixedAppendRefused,
		"personal events by subject, redacted":  subjectsAndRedaction,
		"the records after a version":           loadAfter,
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			test(t, newStore(t, Codec(t)))
		})
	}
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func record(id string, version int, e es.Event) eventstore.Record {
	return eventstore.Record{
		EventID: uuid.Must(uuid.NewV7()).String(), AggregateType: order.AggregateType, AggregateID: id,
		Version: version, Type: e.EventName(), Event: e,
		CorrelationID: "corr-" + id, CausationID: "cause-" + id, OccurredAt: t0.Add(time.Duration(version) * time.Second),
	}
}

func placed(id string) *order.Placed {
	return &order.Placed{OrderID: id, CustomerID: "c", Items: []order.Item{{ProductID: "p", ProductName: "P", Quantity: 2, UnitPrice: 150}}, Total: 300, PlacedAt: t0}
}

func history(id string) []eventstore.Record {
	return []eventstore.Record{
		record(id, 1, placed(id)),
		record(id, 2, &order.Confirmed{OrderID: id, ConfirmedAt: t0.Add(time.Minute)}),
	}
}

func appendAndLoad(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	in := history("o-1")
	if err := s.Append(ctx, in[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, in[1:]); err != nil {
		t.Fatal(err)
	}
	out, err := s.Load(ctx, order.AggregateType, "o-1")
	if err != nil || len(out) != 2 {
		t.Fatalf("load: %d records, %v", len(out), err)
	}
	for i := range out {
		got, want := out[i], in[i]
		if got.RecordedAt.IsZero() || time.Since(got.RecordedAt) > time.Minute {
			t.Fatalf("recorded at %v", got.RecordedAt)
		}
		if got.SchemaVersion < 1 {
			t.Fatalf("schema version %d", got.SchemaVersion)
		}
		if !want.RecordedAt.Equal(got.RecordedAt) {
			t.Fatalf("append set recorded at %v, load says %v", want.RecordedAt, got.RecordedAt)
		}
		got.RecordedAt, want.RecordedAt, got.SchemaVersion, want.SchemaVersion = time.Time{}, time.Time{}, 0, 0
		if !got.OccurredAt.Equal(want.OccurredAt) {
			t.Fatalf("occurred at %v, want %v", got.OccurredAt, want.OccurredAt)
		}
		got.OccurredAt = want.OccurredAt
		if fmt.Sprintf("%+v", got.Event) != fmt.Sprintf("%+v", want.Event) {
			t.Fatalf("event %+v, want %+v", got.Event, want.Event)
		}
		got.Event, want.Event, got.Payload, want.Payload = nil, nil, nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %+v, want %+v", got, want)
		}
	}
}

func staleAppendConflicts(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	in := history("o-1")
	if err := s.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	for _, stale := range [][]eventstore.Record{
		{record("o-1", 1, placed("o-1"))},                                     // someone appended first
		{record("o-1", 2, &order.Cancelled{OrderID: "o-1", CancelledAt: t0})}, // expected version 1, stream at 2
	} {
		if err := s.Append(ctx, stale); !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("append at version %d: %v, want a conflict", stale[0].Version, err)
		}
	}
	out, _ := s.Load(ctx, order.AggregateType, "o-1")
	if len(out) != 2 {
		t.Fatalf("%d records after refused appends", len(out))
	}
}

func concurrentAppends(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	if err := s.Append(ctx, history("o-1")[:1]); err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = s.Append(ctx, []eventstore.Record{record("o-1", 2, &order.Cancelled{OrderID: "o-1", Reason: fmt.Sprint(i), CancelledAt: t0})})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, eventstore.ErrConflict):
			t.Fatalf("append: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers appended version 2", won)
	}
	out, _ := s.Load(ctx, order.AggregateType, "o-1")
	if len(out) != 2 || out[1].Version != 2 {
		t.Fatalf("stream %+v", out)
	}
}

func versions(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	if err := s.Append(ctx, history("o-1")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx, order.AggregateType, "o-1"); err != nil || v != 2 {
		t.Fatalf("version %d %v", v, err)
	}
	if v, err := s.Version(ctx, order.AggregateType, "nope"); err != nil || v != 0 {
		t.Fatalf("unknown version %d %v", v, err)
	}
	if v, err := s.Version(ctx, "other-type", "o-1"); err != nil || v != 0 {
		t.Fatalf("other type version %d %v", v, err)
	}
	if out, err := s.Load(ctx, order.AggregateType, "nope"); err != nil || len(out) != 0 {
		t.Fatalf("unknown stream %v %v", out, err)
	}
}

func collect(t *testing.T, s eventstore.Store, f eventstore.Filter) []string {
	t.Helper()
	var ids []string
	for rec, err := range s.Read(context.Background(), f) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.AggregateID+"/"+rec.Type)
	}
	return ids
}

func readFilters(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	var all []eventstore.Record
	for _, id := range []string{"a", "b", "c"} {
		h := history(id)
		if err := s.Append(ctx, h); err != nil {
			t.Fatal(err)
		}
		all = append(all, h...)
		time.Sleep(2 * time.Millisecond) // distinct recording times
	}
	loaded, _ := s.Load(ctx, order.AggregateType, "b")
	tests := []struct {
		name string
		f    eventstore.Filter
		want []string
	}{
		{"everything in recorded order", eventstore.Filter{}, []string{"a/order.placed", "a/order.confirmed", "b/order.placed", "b/order.confirmed", "c/order.placed", "c/order.confirmed"}},
		{"by type", eventstore.Filter{Types: []string{"order.confirmed"}}, []string{"a/order.confirmed", "b/order.confirmed", "c/order.confirmed"}},
		{"by aggregate", eventstore.Filter{AggregateIDs: []string{"c", "a"}}, []string{"a/order.placed", "a/order.confirmed", "c/order.placed", "c/order.confirmed"}},
		{"by aggregate type", eventstore.Filter{AggregateTypes: []string{"stock"}}, nil},
		{"by event id", eventstore.Filter{EventIDs: []string{all[3].EventID, all[0].EventID}}, []string{"a/order.placed", "b/order.confirmed"}},
		{"limit", eventstore.Filter{Limit: 2}, []string{"a/order.placed", "a/order.confirmed"}},
		{"since", eventstore.Filter{Since: loaded[0].RecordedAt}, []string{"b/order.placed", "b/order.confirmed", "c/order.placed", "c/order.confirmed"}},
		{"until", eventstore.Filter{Until: loaded[0].RecordedAt}, []string{"a/order.placed", "a/order.confirmed"}},
		{"combined", eventstore.Filter{Types: []string{"order.placed"}, Since: loaded[0].RecordedAt, Limit: 1}, []string{"b/order.placed"}},
	}
	for _, tt := range tests {
		if got := collect(t, s, tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func originsCompareAndSet(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	o := eventstore.Origin{ID: "relay-1", Holder: "a", PublishedBefore: at(1), RenewedAt: at(2)}
	if saved, err := s.SaveOrigin(ctx, o, time.Time{}); err != nil || !saved {
		t.Fatalf("create: %v %v", saved, err)
	}
	if saved, err := s.SaveOrigin(ctx, o, time.Time{}); err != nil || saved {
		t.Fatalf("created twice: %v %v", saved, err)
	}
	renewed := o
	renewed.PublishedBefore, renewed.RenewedAt = at(3), at(4).Add(1500*time.Microsecond)
	if saved, err := s.SaveOrigin(ctx, renewed, o.RenewedAt); err != nil || !saved {
		t.Fatalf("renew: %v %v", saved, err)
	}
	// A relay renewing from what it read before the renewal above loses.
	if saved, err := s.SaveOrigin(ctx, renewed, o.RenewedAt); err != nil || saved {
		t.Fatalf("renewed over a renewal it had not read: %v %v", saved, err)
	}
	if saved, err := s.SaveOrigin(ctx, eventstore.Origin{ID: "nobody", RenewedAt: at(5)}, at(1)); err != nil || saved {
		t.Fatalf("renewed an origin that does not exist: %v %v", saved, err)
	}
	// Kept to the millisecond, which is what the next renewal names.
	stale, err := s.StaleOrigins(ctx, at(10))
	if err != nil || len(stale) != 1 {
		t.Fatalf("stale: %+v %v", stale, err)
	}
	got := stale[0]
	if got.ID != "relay-1" || got.Holder != "a" || !got.PublishedBefore.Equal(at(3)) || !got.RenewedAt.Equal(at(4).Add(time.Millisecond)) {
		t.Fatalf("stored %+v", got)
	}
	taken := got
	taken.Holder, taken.RenewedAt = "b", at(20)
	if saved, err := s.SaveOrigin(ctx, taken, got.RenewedAt); err != nil || !saved {
		t.Fatalf("take over: %v %v", saved, err)
	}
	if stale, _ := s.StaleOrigins(ctx, at(10)); len(stale) != 0 {
		t.Fatalf("renewed at 20 s, stale before 10 s: %+v", stale)
	}
	if err := s.DropOrigin(ctx, "relay-1", got.RenewedAt); err != nil {
		t.Fatal(err)
	}
	if stale, _ := s.StaleOrigins(ctx, at(30)); len(stale) != 1 {
		t.Fatalf("dropped by a relay that lost it: %+v", stale)
	}
	if err := s.DropOrigin(ctx, "relay-1", at(20)); err != nil {
		t.Fatal(err)
	}
	if stale, _ := s.StaleOrigins(ctx, at(30)); len(stale) != 0 {
		t.Fatalf("not dropped: %+v", stale)
	}
}

// originRecordsPages walks an origin's records three at a time from a
// checkpoint. Records of one aggregate appended together share their
// recording time, so pages also split within one instant; another origin's
// records and those recorded before the checkpoint are not part of it.
func originRecordsPages(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	with := func(origin string, recs []eventstore.Record) []eventstore.Record {
		for i := range recs {
			recs[i].Origin = origin
		}
		return recs
	}
	before := with("o", history("before"))
	if err := s.Append(ctx, before); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	from := time.Now().UTC().Truncate(time.Millisecond)
	big := []eventstore.Record{record("big", 1, placed("big"))}
	for v := 2; v <= 7; v++ {
		big = append(big, record("big", v, &order.Confirmed{OrderID: "big", ConfirmedAt: t0}))
	}
	streams := [][]eventstore.Record{with("o", history("a")), with("o", big), with("other", history("x")), with("o", history("b")), with("o", history("c"))}
	for _, recs := range streams {
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	var want []eventstore.Record // Append set their recording times
	for _, recs := range streams {
		for _, rec := range recs {
			if rec.Origin == "o" {
				want = append(want, rec)
			}
		}
	}
	slices.SortFunc(want, func(a, b eventstore.Record) int {
		return eventstore.PositionOf(a).Compare(eventstore.PositionOf(b))
	})

	const limit = 3
	var got []eventstore.Record
	var after eventstore.Position
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("still walking after %d pages: %d records", pages, len(got))
		}
		page, err := s.OriginRecords(ctx, "o", from, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d records, limit %d", len(page), limit)
		}
		got = append(got, page...)
		if len(page) < limit {
			break
		}
		after = eventstore.PositionOf(page[len(page)-1])
	}
	ids := func(recs []eventstore.Record) []string {
		out := make([]string, len(recs))
		for i, rec := range recs {
			out[i] = rec.AggregateID + "/" + strconv.Itoa(rec.Version)
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("walked %v\nwant   %v", ids(got), ids(want))
	}
	if got[0].Event == nil || got[0].Origin != "o" {
		t.Fatalf("records come without their events or origin: %+v", got[0])
	}
	if all, _ := s.OriginRecords(ctx, "o", time.Time{}, eventstore.Position{}, 0); len(all) != len(want)+len(before) {
		t.Fatalf("from the start: %d records, want %d", len(all), len(want)+len(before))
	}
}

func mixedAppendRefused(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mixed := []eventstore.Record{history("a")[0], history("b")[1]}
	if err := s.Append(ctx, mixed); err == nil {
		t.Fatal("records of two aggregates appended together")
	}
	if v, _ := s.Version(ctx, order.AggregateType, "a"); v != 0 {
		t.Fatalf("a at version %d", v)
	}
}

func subjectsAndRedaction(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	ada, bob := placed("o-1"), placed("o-2")
	ada.CustomerID, ada.Contact = "ada", order.Contact{Email: "ada@example.com", Phone: "+4915112345678"}
	bob.CustomerID, bob.Contact = "bob", order.Contact{Email: "bob@example.com"}
	for _, recs := range [][]eventstore.Record{
		{record("o-1", 1, ada), record("o-1", 2, &order.Confirmed{OrderID: "o-1", ConfirmedAt: t0})},
		{record("o-2", 1, bob)},
	} {
		if err := s.Append(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	var found []eventstore.Record
	for rec, err := range s.Read(ctx, eventstore.Filter{Subjects: []string{"ada"}}) {
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, rec)
	}
	if len(found) != 1 || found[0].AggregateID != "o-1" || found[0].Version != 1 {
		t.Fatalf("ada's personal events: %+v", found)
	}
	before := found[0]
	redacted := *before.Event.(*order.Placed)
	redacted.Contact = order.Contact{Email: "erased", Phone: "erased"}
	before.Event = &redacted
	if err := s.Redact(ctx, []eventstore.Record{before}); err != nil {
		t.Fatal(err)
	}
	after, err := s.Load(ctx, order.AggregateType, "o-1")
	if err != nil || len(after) != 2 {
		t.Fatalf("load after redaction: %d records, %v", len(after), err)
	}
	got := after[0]
	if c := got.Event.(*order.Placed).Contact; c != redacted.Contact {
		t.Fatalf("contact after redaction: %+v", c)
	}
	if string(got.Payload) != "" && (strings.Contains(string(got.Payload), "ada@") || strings.Contains(string(got.Payload), "1234")) {
		t.Fatalf("the payload still holds the contact: %s", got.Payload)
	}
	if got.EventID != before.EventID || got.Version != 1 || !got.RecordedAt.Equal(before.RecordedAt) || got.CorrelationID != before.CorrelationID ||
		got.Event.(*order.Placed).Total != ada.Total {
		t.Fatalf("redaction changed more than the event's personal data: %+v, was %+v", got, before)
	}
	if bobs, _ := s.Load(ctx, order.AggregateType, "o-2"); len(bobs) != 1 || bobs[0].Event.(*order.Placed).Contact != bob.Contact {
		t.Fatalf("another customer's order changed: %+v", bobs)
	}
}

func loadAfter(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	in := append(history("o-1"), record("o-1", 3, &order.Cancelled{OrderID: "o-1", CancelledAt: t0}))
	if err := s.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	for after, want := range map[int][]int{0: {1, 2, 3}, 1: {2, 3}, 3: nil, 7: nil} {
		got, err := s.LoadAfter(ctx, order.AggregateType, "o-1", after)
		if err != nil {
			t.Fatal(err)
		}
		var versions []int
		for _, r := range got {
			versions = append(versions, r.Version)
		}
		if !slices.Equal(versions, want) {
			t.Fatalf("after %d: versions %v, want %v", after, versions, want)
		}
	}
	if got, err := s.LoadAfter(ctx, order.AggregateType, "o-2", 0); err != nil || len(got) != 0 {
		t.Fatalf("an unknown stream: %v %v", got, err)
	}
}
