package cqrs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/operations"
	"shop/cqrs"
	"shop/cqrs/metadata"
	"shop/infrastructure/memory"
)

// lanes runs one handler with a parking lot; the handler notes every event
// it handled and fails for good on the versions marked broken.
type lanes struct {
	*harness
	parking *memory.Parking

	mu      sync.Mutex
	handled []string
	broken  map[string]bool
	// early counts how many more times an event is found early.
	early map[string]int
	// slow, when set, is closed once the handling of slowEvent started and
	// holds it until release is closed.
	slowEvent string
	started   chan struct{}
	proceed   chan struct{}
	calls     atomic.Int32
}

func newLanes(t *testing.T, broken ...string) *lanes {
	return newLanesOn(t, memory.NewParking(), broken...)
}

// newLanesOn runs the handler on a router of its own, with the given
// parking, as the next owner of a partition does.
func newLanesOn(t *testing.T, parking *memory.Parking, broken ...string) *lanes {
	l := &lanes{parking: parking, broken: map[string]bool{}, early: map[string]int{}}
	for _, b := range broken {
		l.broken[b] = true
	}
	cfg := fastRetries(1)
	cfg.Parking = l.parking
	l.harness = newHarness(t, cfg, nil, func(msg *message.Message, _ int32) error {
		l.calls.Add(1)
		event := msg.Metadata.Get(metadata.AggregateIDKey) + msg.Metadata.Get(metadata.AggregateVersionKey)
		l.mu.Lock()
		slow := event == l.slowEvent
		l.mu.Unlock()
		if slow {
			close(l.started)
			<-l.proceed
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.broken[event] {
			return fmt.Errorf("bug in the handling of %s", event)
		}
		if l.early[event] > 0 {
			l.early[event]--
			return early()
		}
		l.handled = append(l.handled, event)
		return nil
	})
	return l
}

func (l *lanes) fix(event string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.broken, event)
}

// send publishes version v of aggregate id.
func (l *lanes) send(id string, v int) {
	l.t.Helper()
	msg := message.NewMessage(fmt.Sprintf("%s-%d", id, v), []byte("{}"))
	msg.Metadata.Set(metadata.NameKey, "test.msg")
	msg.Metadata.Set(metadata.AggregateIDKey, id)
	msg.Metadata.Set(metadata.AggregateVersionKey, strconv.Itoa(v))
	if err := l.pubsub.Publish(testTopic, msg); err != nil {
		l.t.Fatal(err)
	}
}

// of lists what was handled of one aggregate, in order.
func (l *lanes) of(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.handled {
		if e[:1] == id {
			out = append(out, e)
		}
	}
	return out
}

func (l *lanes) waitHandled(id string, want ...string) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(l.of(id), want) {
		if time.Now().After(deadline) {
			l.t.Fatalf("handled of %s: %v, want %v", id, l.of(id), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (l *lanes) parked(id string) []string {
	l.t.Helper()
	ps, err := l.parking.Parked(context.Background(), operations.Lane{Handler: "handler", AggregateID: id})
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.MessageID)
	}
	return out
}

func (l *lanes) waitParked(id string, want ...string) {
	l.t.Helper()
	waitFor(l.t, func() bool { return slices.Equal(l.parked(id), want) })
}

// holdAt2 has version 1 of id handled and version 2, broken, set aside,
// and returns 2's dead letter.
func (l *lanes) holdAt2(id string) operations.DeadLetter {
	l.t.Helper()
	l.send(id, 1)
	l.waitHandled(id, id+"1")
	l.send(id, 2)
	return cqrs.DeadLetterFromMessage(l.expectPoisoned())
}

// replay publishes a dead letter again, as an operator's replay does.
func (l *lanes) replay(d operations.DeadLetter) {
	l.t.Helper()
	if err := (cqrs.Republisher{Publisher: l.pubsub}).Republish(context.Background(), d, d.Replays+1); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lanes) held() []operations.Block {
	l.t.Helper()
	blocks, err := l.parking.Blocks(context.Background(), "")
	if err != nil {
		l.t.Fatal(err)
	}
	return blocks
}

// The events are sent one after the other, each once the one before was
// seen to, as a partition's consumer gets them: a GoChannel hands out
// messages concurrently.
func TestAnAggregatesLaterEventsWaitBehindItsDeadLetterUntilItsReplay(t *testing.T) {
	l := newLanes(t, "a2")
	dead := l.holdAt2("a")
	if dead.MessageID != "a-2" || dead.Handler != "handler" {
		t.Fatalf("poisoned %+v", dead)
	}
	// Another aggregate flows throughout; a's later events wait, unhandled.
	l.send("b", 1)
	l.waitHandled("b", "b1")
	l.send("a", 3)
	l.waitParked("a", "a-3")
	l.send("b", 2)
	l.waitHandled("b", "b1", "b2")
	l.send("a", 4)
	l.waitParked("a", "a-3", "a-4")
	l.send("b", 3)
	l.waitHandled("b", "b1", "b2", "b3")
	if got := l.of("a"); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("handled of a while it waits: %v", got)
	}
	if held := l.held(); len(held) != 1 || held[0].DeadLetterID() != "a-2@handler" {
		t.Fatalf("held lanes %+v", held)
	}
	// A later event of b is not held by a's dead letter.
	l.send("b", 4)
	l.waitHandled("b", "b1", "b2", "b3", "b4")

	// The fix, then the replay: a2 is handled, then a3 and a4, in order.
	l.fix("a2")
	l.replay(dead)
	l.waitHandled("a", "a1", "a2", "a3", "a4")
	l.waitParked("a")
	waitFor(t, func() bool { return len(l.held()) == 0 })

	// The lane is free: the next event of a is handled at once.
	l.send("a", 5)
	l.waitHandled("a", "a1", "a2", "a3", "a4", "a5")
	l.expectNothingPoisoned(20 * time.Millisecond)
}

func TestDiscardingTheDeadLetterReleasesWhatWaitsBehindIt(t *testing.T) {
	l := newLanes(t, "c2")
	dead := l.holdAt2("c")
	l.send("c", 3)
	l.waitParked("c", "c-3")

	calls := l.calls.Load()
	if err := (cqrs.Republisher{Publisher: l.pubsub}).Release(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	// c3 is handled; the discarded c2 is not handed to the handler again.
	l.waitHandled("c", "c1", "c3")
	waitFor(t, func() bool { return len(l.held()) == 0 })
	if got := l.calls.Load() - calls; got != 1 {
		t.Fatalf("the handler was called %d times after the release, want once (c3)", got)
	}
	// A late second notice finds the lane free and changes nothing: the
	// handler is not called for it.
	if err := (cqrs.Republisher{Publisher: l.pubsub}).Release(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	l.send("c", 4)
	l.waitHandled("c", "c1", "c3", "c4")
	if got := l.calls.Load() - calls; got != 2 {
		t.Fatalf("the handler was called %d times after the first release, want twice (c3, c4)", got)
	}
	if held := l.held(); len(held) != 0 {
		t.Fatalf("held after the second notice: %+v", held)
	}
}

func TestAReleasedEventThatFailsForGoodHoldsTheRestAgain(t *testing.T) {
	l := newLanes(t, "d2", "d3")
	first := l.holdAt2("d")
	l.send("d", 3)
	l.waitParked("d", "d-3")
	l.send("d", 4)
	l.waitParked("d", "d-3", "d-4")

	l.fix("d2")
	l.replay(first)
	second := cqrs.DeadLetterFromMessage(l.expectPoisoned())
	if second.MessageID != "d-3" {
		t.Fatalf("poisoned %s, want d-3", second.MessageID)
	}
	l.waitParked("d", "d-4")
	l.waitHandled("d", "d1", "d2")
	if held := l.held(); len(held) != 1 || held[0].MessageID != "d-3" {
		t.Fatalf("held lanes %+v", held)
	}

	l.fix("d3")
	l.replay(second)
	l.waitHandled("d", "d1", "d2", "d3", "d4")
	waitFor(t, func() bool { return len(l.held()) == 0 })
}

func TestTheNextOwnerOfAPartitionKeepsWhatThePreviousOneHeld(t *testing.T) {
	parking := memory.NewParking()
	first := newLanesOn(t, parking, "a2")
	first.send("a", 1)
	first.waitHandled("a", "a1")
	first.send("a", 2)
	dead := cqrs.DeadLetterFromMessage(first.expectPoisoned())
	first.send("a", 3)
	first.waitParked("a", "a-3")

	// Another router, as on the replica that takes the partition over: it
	// reads the held lanes before it hands a message to its handler.
	next := newLanesOn(t, parking)
	next.send("a", 4)
	next.waitParked("a", "a-3", "a-4")
	next.send("b", 1)
	next.waitHandled("b", "b1")
	if err := (cqrs.Republisher{Publisher: next.pubsub}).Republish(context.Background(), dead, 1); err != nil {
		t.Fatal(err)
	}
	next.waitHandled("a", "a2", "a3", "a4")
}

// failingParking is a parking whose store is down.
type failingParking struct{ *memory.Parking }

func (failingParking) Block(context.Context, operations.Block) error {
	return errors.New("connection refused")
}

func TestAMessageWhoseLaneCannotBeHeldIsNotSetAside(t *testing.T) {
	cfg := fastRetries(1)
	cfg.Parking = failingParking{memory.NewParking()}
	var calls atomic.Int32
	h := newHarness(t, cfg, nil, func(*message.Message, int32) error {
		calls.Add(1)
		return errors.New("bug")
	})
	msg := message.NewMessage("e-2", []byte("{}"))
	msg.Metadata.Set(metadata.NameKey, "test.msg")
	msg.Metadata.Set(metadata.AggregateIDKey, "e")
	msg.Metadata.Set(metadata.AggregateVersionKey, "2")
	if err := h.pubsub.Publish(testTopic, msg); err != nil {
		t.Fatal(err)
	}
	// Without its lane held, the message goes back to the broker and comes
	// again: it is never acknowledged into the dead letters alone.
	waitFor(t, func() bool { return calls.Load() >= 4 })
	h.expectNothingPoisoned(20 * time.Millisecond)
}

func TestALatePredecessorOfTheDeadLetterIsHandledNotParked(t *testing.T) {
	l := newLanes(t, "f2")
	l.send("f", 2)
	dead := cqrs.DeadLetterFromMessage(l.expectPoisoned())
	// Version 1, late (claimed from a dead consumer, say): what 2 may wait
	// for, so it is handled.
	l.send("f", 1)
	l.waitHandled("f", "f1")
	l.send("f", 3)
	l.waitParked("f", "f-3")
	l.fix("f2")
	l.replay(dead)
	l.waitHandled("f", "f1", "f2", "f3")
}

func TestAReplayThatArrivesEarlyAgainStillHoldsItsAggregate(t *testing.T) {
	l := newLanes(t, "g2")
	dead := l.holdAt2("g")
	l.send("g", 3)
	l.waitParked("g", "g-3")
	// Fixed, but the first replay finds it early: it goes to the back of
	// its topic, and g3 stays parked until its copy is handled.
	l.mu.Lock()
	delete(l.broken, "g2")
	l.early["g2"] = 1
	l.mu.Unlock()
	l.replay(dead)
	l.waitHandled("g", "g1", "g2", "g3")
	if got := l.of("g"); !slices.Equal(got, []string{"g1", "g2", "g3"}) {
		t.Fatalf("handled %v", got)
	}
	waitFor(t, func() bool { return len(l.held()) == 0 })
}

func TestAReleasedEventFoundEarlyHoldsTheRestUntilItsCopyIsHandled(t *testing.T) {
	l := newLanes(t, "h2")
	dead := l.holdAt2("h")
	l.send("h", 3)
	l.send("h", 4)
	l.waitParked("h", "h-3", "h-4")
	l.mu.Lock()
	delete(l.broken, "h2")
	l.early["h3"] = 1
	l.mu.Unlock()
	l.replay(dead)
	// h3 went to the back of its topic: h4 waits for its copy.
	l.waitHandled("h", "h1", "h2", "h3", "h4")
	waitFor(t, func() bool { return len(l.held()) == 0 && len(l.parked("h")) == 0 })
}

func TestAnEventThatArrivesWhileItsAggregateIsReleasedWaitsForTheRelease(t *testing.T) {
	l := newLanes(t, "i2")
	dead := l.holdAt2("i")
	l.send("i", 3)
	l.waitParked("i", "i-3")
	l.mu.Lock()
	delete(l.broken, "i2")
	l.slowEvent, l.started, l.proceed = "i3", make(chan struct{}), make(chan struct{})
	l.mu.Unlock()
	l.replay(dead)
	// While i3 is being released, i4 comes, as a delivery that overlaps
	// (a partition changing hands): it is handled after i3, by the release
	// or after it, and never left parked behind a freed lane.
	<-l.started
	l.send("i", 4)
	time.Sleep(20 * time.Millisecond)
	close(l.proceed)
	l.waitHandled("i", "i1", "i2", "i3", "i4")
	waitFor(t, func() bool { return len(l.held()) == 0 && len(l.parked("i")) == 0 })
}

func TestAReplayFindsTheHoldThatAnotherProcessWroteAfterThisOneLoaded(t *testing.T) {
	l := newLanes(t)
	// The router has read its lanes: none is held.
	l.send("j", 1)
	l.waitHandled("j", "j1")
	// The previous owner of the partition, finishing late, set j2 aside
	// and parked j3.
	ctx := context.Background()
	lane := operations.Lane{Handler: "handler", AggregateID: "j"}
	if err := l.parking.Block(ctx, operations.Block{Lane: lane, MessageID: "j-2", Version: 2}); err != nil {
		t.Fatal(err)
	}
	j3 := message.NewMessage("j-3", []byte("{}"))
	if err := l.parking.Park(ctx, operations.ParkedMessage{Lane: lane, MessageID: "j-3", AggregateVersion: 3, Payload: j3.Payload,
		Metadata: map[string]string{metadata.NameKey: "test.msg", metadata.AggregateIDKey: "j", metadata.AggregateVersionKey: "3"}}); err != nil {
		t.Fatal(err)
	}
	dead := operations.DeadLetter{MessageID: "j-2", Handler: "handler", Topic: testTopic, Payload: []byte("{}"),
		Metadata: map[string]string{metadata.NameKey: "test.msg", metadata.AggregateIDKey: "j", metadata.AggregateVersionKey: "2"}}
	if err := (cqrs.Republisher{Publisher: l.pubsub}).Republish(ctx, dead, 1); err != nil {
		t.Fatal(err)
	}
	l.waitHandled("j", "j1", "j2", "j3")
	waitFor(t, func() bool { return len(l.held()) == 0 })
}

func TestALatePredecessorThatFailsDoesNotFreeWhatWaitsBehindTheLaterDeadLetter(t *testing.T) {
	l := newLanes(t, "k2", "k3")
	l.send("k", 3)
	third := cqrs.DeadLetterFromMessage(l.expectPoisoned())
	l.send("k", 4)
	l.waitParked("k", "k-4")
	// k2 comes late, and fails too: k3 still holds the lane.
	l.send("k", 2)
	second := cqrs.DeadLetterFromMessage(l.expectPoisoned())
	if held := l.held(); len(held) != 1 || held[0].MessageID != "k-3" {
		t.Fatalf("held %+v, want k-3", held)
	}
	l.fix("k2")
	l.replay(second)
	l.waitHandled("k", "k2")
	l.expectNothingPoisoned(20 * time.Millisecond)
	if got := l.parked("k"); !slices.Equal(got, []string{"k-4"}) {
		t.Fatalf("parked after k2's replay: %v", got)
	}
	l.fix("k3")
	l.replay(third)
	l.waitHandled("k", "k2", "k3", "k4")
}

func TestAMessageParkedOnAHoldAnotherRouterFreedIsHandled(t *testing.T) {
	parking := memory.NewParking()
	previous := newLanesOn(t, parking, "m2")
	dead := previous.holdAt2("m")
	// The next owner reads its lanes, m held, while the previous one is
	// still finishing.
	next := newLanesOn(t, parking)
	next.send("n", 1)
	next.waitHandled("n", "n1")
	// The previous owner handles the replay and frees the lane; the next
	// owner's map still says held.
	previous.fix("m2")
	previous.replay(dead)
	previous.waitHandled("m", "m1", "m2")
	waitFor(t, func() bool { return len(previous.held()) == 0 })
	next.send("m", 3)
	next.waitHandled("m", "m3")
	if got := next.parked("m"); len(got) != 0 {
		t.Fatalf("parked behind a freed lane: %v", got)
	}
}
