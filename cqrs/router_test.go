package cqrs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/readmodel"
	"shop/cqrs"
	"shop/cqrs/metadata"
	"shop/infrastructure/logging"
	"shop/infrastructure/memory"
)

const testTopic = "test.topic"

// harness runs one handler behind the production middleware stack.
type harness struct {
	t        *testing.T
	pubsub   *gochannel.GoChannel
	poisoned <-chan *message.Message
	attempts atomic.Int32
}

func newHarness(t *testing.T, cfg cqrs.RouterConfig, poisonPub message.Publisher, handle func(msg *message.Message, attempt int32) error) *harness {
	t.Helper()
	h := &harness{t: t, pubsub: gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})}
	if poisonPub == nil {
		poisonPub = h.pubsub
	}
	topics := cqrs.Topics{Partitions: 1}
	logger := slog.New(slog.DiscardHandler)
	known := cqrs.NewKnownNames("test.msg")
	dedup := cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 1000), logger)
	dedup.Guard("handler", "handler")
	router, err := cqrs.NewRouter(cfg, poisonPub, topics, known, dedup, logger)
	if err != nil {
		t.Fatal(err)
	}
	router.AddConsumerHandler("handler", testTopic, h.pubsub, func(msg *message.Message) error {
		return handle(msg, h.attempts.Add(1))
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.poisoned, err = h.pubsub.Subscribe(ctx, topics.Poison())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = router.Run(ctx) }()
	<-router.Running()
	t.Cleanup(func() {
		cancel()
		_ = router.Close()
		_ = h.pubsub.Close()
	})
	return h
}

func fastRetries(maxRetries int) cqrs.RouterConfig {
	return cqrs.RouterConfig{MaxRetries: maxRetries, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond, HandlerTimeout: time.Second, UnavailableDelay: time.Millisecond}
}

func (h *harness) publish(uuid string) *message.Message {
	msg := message.NewMessage(uuid, []byte("{}"))
	msg.Metadata.Set(metadata.NameKey, "test.msg")
	if err := h.pubsub.Publish(testTopic, msg); err != nil {
		h.t.Fatal(err)
	}
	return msg
}

func (h *harness) expectPoisoned() *message.Message {
	h.t.Helper()
	select {
	case m := <-h.poisoned:
		m.Ack()
		return m
	case <-time.After(5 * time.Second):
		h.t.Fatal("nothing was poisoned")
		return nil
	}
}

func (h *harness) expectNothingPoisoned(wait time.Duration) {
	h.t.Helper()
	select {
	case m := <-h.poisoned:
		h.t.Fatalf("poisoned %s: %s", m.UUID, m.Metadata.Get(middleware.ReasonForPoisonedKey))
	case <-time.After(wait):
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAFailingHandlerIsRetriedBeforeItsMessageIsPoisoned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fastRetries(3), nil, func(*message.Message, int32) error { return errors.New("bug") })
	sent := h.publish(watermill.NewUUID())
	got := h.expectPoisoned()
	if got.UUID != sent.UUID || got.Metadata.Get(middleware.ReasonForPoisonedKey) != "bug" ||
		got.Metadata.Get(middleware.PoisonedHandlerKey) != "handler" || got.Metadata.Get(middleware.PoisonedTopicKey) != testTopic {
		t.Fatalf("poisoned %s %v", got.UUID, got.Metadata)
	}
	if n := h.attempts.Load(); n != 4 {
		t.Fatalf("%d attempts, want 1 + 3 retries", n)
	}
}

func TestMalformedInputIsPoisonedWithoutRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fastRetries(3), nil, func(*message.Message, int32) error { return fault.Malformed(errors.New("bad JSON")) })
	h.publish(watermill.NewUUID())
	h.expectPoisoned()
	if n := h.attempts.Load(); n != 1 {
		t.Fatalf("%d attempts", n)
	}
}

func TestARetryAfterATimeoutGetsAFreshContext(t *testing.T) {
	t.Parallel()
	cfg := fastRetries(3)
	cfg.HandlerTimeout = 20 * time.Millisecond
	var secondSawLiveContext atomic.Bool
	h := newHarness(t, cfg, nil, func(msg *message.Message, attempt int32) error {
		if attempt == 1 {
			<-msg.Context().Done()
			return msg.Context().Err()
		}
		secondSawLiveContext.Store(msg.Context().Err() == nil)
		return nil
	})
	h.publish(watermill.NewUUID())
	waitFor(t, func() bool { return h.attempts.Load() >= 2 })
	h.expectNothingPoisoned(50 * time.Millisecond)
	if !secondSawLiveContext.Load() {
		t.Fatal("the retry ran on the timed-out context")
	}
}

// contextCheckingPublisher refuses messages whose context is done, as a
// publisher that honours deadlines does.
type contextCheckingPublisher struct{ message.Publisher }

func (p contextCheckingPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if err := m.Context().Err(); err != nil {
			return err
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}

func TestAMessageWhoseHandlerTimedOutStillReachesThePoisonQueue(t *testing.T) {
	t.Parallel()
	cfg := fastRetries(1)
	cfg.HandlerTimeout = 10 * time.Millisecond
	var pub contextCheckingPublisher
	h := newHarness(t, cfg, &pub, func(msg *message.Message, _ int32) error {
		<-msg.Context().Done()
		return msg.Context().Err()
	})
	pub.Publisher = h.pubsub
	h.publish(watermill.NewUUID())
	got := h.expectPoisoned()
	if got.Metadata.Get(middleware.ReasonForPoisonedKey) != context.DeadlineExceeded.Error() {
		t.Fatalf("reason %q", got.Metadata.Get(middleware.ReasonForPoisonedKey))
	}
}

func TestTransientFailuresAreRetriedAndNeverPoisoned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fastRetries(2), nil, func(_ *message.Message, attempt int32) error {
		if attempt <= 10 {
			return fault.Unavailable("database", errors.New("connection refused"))
		}
		return nil
	})
	h.publish(watermill.NewUUID())
	waitFor(t, func() bool { return h.attempts.Load() >= 11 })
	h.expectNothingPoisoned(20 * time.Millisecond)
}

func TestAPanicIsRetriedThenPoisoned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fastRetries(1), nil, func(*message.Message, int32) error { panic("nil map") })
	h.publish(watermill.NewUUID())
	h.expectPoisoned()
	if n := h.attempts.Load(); n != 2 {
		t.Fatalf("%d attempts", n)
	}
}

func TestDeduplicationMarksOnlyAfterSuccess(t *testing.T) {
	t.Parallel()
	var handled atomic.Int32
	h := newHarness(t, fastRetries(0), nil, func(_ *message.Message, attempt int32) error {
		if attempt == 1 {
			return fault.Unavailable("database", errors.New("down"))
		}
		handled.Add(1)
		return nil
	})
	id := watermill.NewUUID()
	h.publish(id)
	// The failed first delivery comes back and is handled, not dropped.
	waitFor(t, func() bool { return handled.Load() == 1 })
	// Once handled, the same message is dropped; a different message with the
	// same payload is not a duplicate.
	h.publish(id)
	h.publish(id)
	h.publish(watermill.NewUUID())
	waitFor(t, func() bool { return handled.Load() == 2 })
	h.expectNothingPoisoned(50 * time.Millisecond)
	if handled.Load() != 2 || h.attempts.Load() != 3 {
		t.Fatalf("handled %d times in %d attempts", handled.Load(), h.attempts.Load())
	}
}

func TestMessagesOfUnknownTypeArePoisonedUnhandled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fastRetries(3), nil, func(*message.Message, int32) error { return nil })
	msg := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	msg.Metadata.Set(metadata.NameKey, "nobody.knows")
	if err := h.pubsub.Publish(testTopic, msg); err != nil {
		t.Fatal(err)
	}
	h.expectPoisoned()
	if h.attempts.Load() != 0 {
		t.Fatal("the handler saw a message of unknown type")
	}
}

func TestAnOutageHoldsTheMessageBeforeItIsDeliveredAgain(t *testing.T) {
	t.Parallel()
	cfg := fastRetries(0)
	cfg.UnavailableDelay = time.Hour
	h := newHarness(t, cfg, nil, func(*message.Message, int32) error {
		return fault.Unavailable("database", errors.New("connection refused"))
	})
	h.publish(watermill.NewUUID())
	waitFor(t, func() bool { return h.attempts.Load() >= 1 })
	// Without the hold the nacked message comes straight back, thousands of
	// times in this wait.
	time.Sleep(100 * time.Millisecond)
	if n := h.attempts.Load(); n != 1 {
		t.Fatalf("%d deliveries during the outage's hold", n)
	}
}

// poisonRecorder is a poison topic that keeps what reaches it.
type poisonRecorder struct {
	mu   sync.Mutex
	msgs []*message.Message
}

func (p *poisonRecorder) Publish(_ string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *poisonRecorder) Close() error { return nil }

func (p *poisonRecorder) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

// closingRouter runs handle behind the production stack and returns a
// function that closes the router.
func closingRouter(t *testing.T, cfg cqrs.RouterConfig, poison message.Publisher, handle message.NoPublishHandlerFunc) (publish func(), closeRouter func() error) {
	t.Helper()
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	t.Cleanup(func() { _ = pubsub.Close() })
	logger := slog.New(slog.DiscardHandler)
	dedup := cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 1000), logger)
	dedup.Guard("handler", "handler")
	router, err := cqrs.NewRouter(cfg, poison, cqrs.Topics{Partitions: 1}, cqrs.NewKnownNames("test.msg"), dedup, logger)
	if err != nil {
		t.Fatal(err)
	}
	router.AddConsumerHandler("handler", testTopic, pubsub, handle)
	go func() { _ = router.Run(context.Background()) }()
	<-router.Running()
	t.Cleanup(func() { _ = router.Close() })
	publish = func() {
		msg := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		msg.Metadata.Set(metadata.NameKey, "test.msg")
		if err := pubsub.Publish(testTopic, msg); err != nil {
			t.Fatal(err)
		}
	}
	return publish, router.Close
}

func TestClosingTheRouterLetsTheAttemptUnderWayFinish(t *testing.T) {
	t.Parallel()
	poison := &poisonRecorder{}
	started := make(chan struct{})
	finished := make(chan error, 1)
	publish, closeRouter := closingRouter(t, fastRetries(3), poison, func(msg *message.Message) error {
		close(started)
		// A store call under way when the router closes.
		select {
		case <-msg.Context().Done():
			finished <- msg.Context().Err()
			return msg.Context().Err()
		case <-time.After(100 * time.Millisecond):
			finished <- nil
			return nil
		}
	})
	publish()
	<-started
	if err := closeRouter(); err != nil {
		t.Fatal(err)
	}
	if err := <-finished; err != nil {
		t.Fatalf("the attempt was cut short: %v", err)
	}
	if n := poison.count(); n != 0 {
		t.Fatalf("%d poisoned", n)
	}
}

func TestAMessageWhoseRetriesTheCloseCutShortIsNotPoisoned(t *testing.T) {
	t.Parallel()
	poison := &poisonRecorder{}
	cfg := fastRetries(3)
	cfg.RetryDelay, cfg.MaxRetryDelay = time.Hour, time.Hour
	// Each delivery is a message of its own: GoChannel hands a nacked
	// message on again as a fresh copy, which a closing router may still
	// take; a retry is another attempt at the same one.
	var mu sync.Mutex
	attempts := map[*message.Message]int{}
	failed := make(chan struct{}, 4)
	publish, closeRouter := closingRouter(t, cfg, poison, func(msg *message.Message) error {
		mu.Lock()
		attempts[msg]++
		mu.Unlock()
		failed <- struct{}{}
		return errors.New("bug")
	})
	publish()
	<-failed
	// The router closes while Retry waits for the next attempt.
	if err := closeRouter(); err != nil {
		t.Fatal(err)
	}
	if n := poison.count(); n != 0 {
		t.Fatalf("%d poisoned by the close", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range attempts {
		if n > 1 {
			t.Fatalf("a delivery was attempted %d times: Retry went on after the close", n)
		}
	}
}

func early() error {
	return fmt.Errorf("project order.confirmed: %w", readmodel.ErrVersionGap)
}

func TestAnEarlyMessageGoesToTheBackOfItsTopicUntilItsPredecessorCame(t *testing.T) {
	t.Parallel()
	cfg := fastRetries(3)
	var since []string
	var mu sync.Mutex
	h := newHarness(t, cfg, nil, func(msg *message.Message, attempt int32) error {
		mu.Lock()
		since = append(since, msg.Metadata.Get(cqrs.EarlySinceKey))
		mu.Unlock()
		if attempt <= 2 {
			return early()
		}
		return nil
	})
	h.publish(watermill.NewUUID())
	waitFor(t, func() bool { return h.attempts.Load() == 3 })
	h.expectNothingPoisoned(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// Not retried in place: each delivery after the first is the copy sent
	// to the back of the topic, which keeps when it was first found early.
	if h.attempts.Load() != 3 || since[0] != "" || since[1] == "" || since[2] != since[1] {
		t.Fatalf("%d deliveries, early since %q", h.attempts.Load(), since)
	}
}

func TestAnEarlyMessageWhosePredecessorNeverComesIsPoisonedAfterItsPatience(t *testing.T) {
	t.Parallel()
	cfg := fastRetries(3)
	cfg.EarlyPatience = 50 * time.Millisecond
	h := newHarness(t, cfg, nil, func(*message.Message, int32) error { return early() })
	sent := h.publish(watermill.NewUUID())
	got := h.expectPoisoned()
	if got.UUID != sent.UUID || !strings.Contains(got.Metadata.Get(middleware.ReasonForPoisonedKey), "for its predecessor") {
		t.Fatalf("poisoned %s: %s", got.UUID, got.Metadata.Get(middleware.ReasonForPoisonedKey))
	}
	// Replayed, it waits its full patience again, and only for its handler.
	d := cqrs.DeadLetterFromMessage(got)
	if _, ok := d.Metadata[cqrs.EarlySinceKey]; ok || d.Metadata[cqrs.RequeuedForKey] != "handler" || d.Handler != "handler" {
		t.Fatalf("dead letter of %s keeps metadata %v", d.Handler, d.Metadata)
	}
}

// runUntilCleanup runs the router until the test ends.
func runUntilCleanup(t *testing.T, router *message.Router, pubsub *gochannel.GoChannel) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = router.Run(ctx) }()
	<-router.Running()
	t.Cleanup(func() {
		cancel()
		_ = router.Close()
		_ = pubsub.Close()
	})
}

// publishTestMessage publishes a message and returns its id.
func publishTestMessage(t *testing.T, pubsub *gochannel.GoChannel) string {
	t.Helper()
	msg := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	msg.Metadata.Set(metadata.NameKey, "test.msg")
	if err := pubsub.Publish(testTopic, msg); err != nil {
		t.Fatal(err)
	}
	return msg.UUID
}

func TestARequeuedCopyIsHandledOnlyByTheHandlerThatFoundItEarly(t *testing.T) {
	t.Parallel()
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	logger := slog.New(slog.DiscardHandler)
	dedup := cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 1000), logger)
	router, err := cqrs.NewRouter(fastRetries(3), pubsub, cqrs.Topics{Partitions: 1}, cqrs.NewKnownNames("test.msg"), dedup, logger)
	if err != nil {
		t.Fatal(err)
	}
	// Both handlers find every message early at first, as two consumer
	// groups do when the predecessor is late for both.
	var mu sync.Mutex
	deliveries := map[string][]string{}
	handler := func(name string) message.NoPublishHandlerFunc {
		return func(msg *message.Message) error {
			mu.Lock()
			defer mu.Unlock()
			deliveries[name] = append(deliveries[name], msg.Metadata.Get(cqrs.RequeuedForKey))
			if len(deliveries[name]) == 1 {
				return early()
			}
			return nil
		}
	}
	router.AddConsumerHandler("projection", testTopic, pubsub, handler("projection"))
	router.AddConsumerHandler("policy", testTopic, pubsub, handler("policy"))
	runUntilCleanup(t, router, pubsub)

	publishTestMessage(t, pubsub)
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(deliveries["projection"]) == 2 && len(deliveries["policy"]) == 2
	})
	time.Sleep(50 * time.Millisecond) // room for a stray copy to arrive
	mu.Lock()
	defer mu.Unlock()
	// Each handler saw the original and its own copy, never the other's.
	for name, got := range deliveries {
		if len(got) != 2 || got[0] != "" || got[1] != name {
			t.Errorf("%s handled copies addressed to %q", name, got)
		}
	}
}

func TestTheLineOfARequeueNamesTheMessageOnce(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := logging.New(&logs, logging.FormatJSON, slog.LevelInfo)
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	router, err := cqrs.NewRouter(fastRetries(3), pubsub, cqrs.Topics{Partitions: 1}, cqrs.NewKnownNames("test.msg"), cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 10), logger), logger)
	if err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int32
	router.AddConsumerHandler("projection", testTopic, pubsub, func(*message.Message) error {
		if deliveries.Add(1) == 1 {
			return early()
		}
		return nil
	})
	runUntilCleanup(t, router, pubsub)
	publishTestMessage(t, pubsub)
	waitFor(t, func() bool { return deliveries.Load() == 2 })
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "message requeued") {
			line = l
		}
	}
	for _, key := range []string{`"message_id":`, `"handler":`, `"attempt":`} {
		if n := strings.Count(line, key); n != 1 {
			t.Errorf("%s %d times in %s", key, n, line)
		}
	}
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// THROTTLE_PER_SECOND caps each handler on its own: four handlers at five
// messages a second each take their five messages in about a second, where
// one throttle shared by the router would need four.
func TestEachHandlerIsThrottledOnItsOwn(t *testing.T) {
	t.Parallel()
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	logger := slog.New(slog.DiscardHandler)
	cfg := fastRetries(0)
	cfg.ThrottlePerSecond = 5
	router, err := cqrs.NewRouter(cfg, pubsub, cqrs.Topics{Partitions: 1}, cqrs.NewKnownNames("test.msg"),
		cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 1000), logger), logger)
	if err != nil {
		t.Fatal(err)
	}
	const handlers, each = 4, 5
	var handled atomic.Int32
	for i := range handlers {
		router.AddConsumerHandler(fmt.Sprintf("handler-%d", i), fmt.Sprintf("topic-%d", i), pubsub, func(*message.Message) error {
			handled.Add(1)
			return nil
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = router.Run(ctx) }()
	<-router.Running()
	defer router.Close()
	start := time.Now()
	for i := range handlers {
		go func() {
			for range each {
				msg := message.NewMessage(watermill.NewUUID(), []byte("{}"))
				msg.Metadata.Set(metadata.NameKey, "test.msg")
				_ = pubsub.Publish(fmt.Sprintf("topic-%d", i), msg)
			}
		}()
	}
	for handled.Load() < handlers*each {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%d of %d messages handled in %v: the handlers share one rate", handled.Load(), handlers*each, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A refusal comes back the same on every attempt (a stale message for an
// aggregate that does not exist): it is set aside after its one attempt,
// where a failure is retried.
func TestARefusedMessageIsSetAsideWithoutRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fastRetries(5), nil, func(*message.Message, int32) error {
		return fmt.Errorf("confirm order o-9: %w", eventstore.ErrNotFound)
	})
	h.publish(watermill.NewUUID())
	h.expectPoisoned()
	if n := h.attempts.Load(); n != 1 {
		t.Fatalf("%d attempts of a refused message, want 1", n)
	}
}

// Watermill's retry lines name the handler and the message, and give the
// wait in milliseconds, as every line of the project does.
func TestTheRetryLinesNameTheHandlerAndTheMessage(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := logging.New(&logs, logging.FormatJSON, slog.LevelInfo)
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	router, err := cqrs.NewRouter(fastRetries(3), pubsub, cqrs.Topics{Partitions: 1}, cqrs.NewKnownNames("test.msg"), cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 10), logger), logger)
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	router.AddConsumerHandler("projection", testTopic, pubsub, func(*message.Message) error {
		if attempts.Add(1) <= 2 {
			return errors.New("a store call failed")
		}
		return nil
	})
	runUntilCleanup(t, router, pubsub)
	id := publishTestMessage(t, pubsub)
	waitFor(t, func() bool { return attempts.Load() == 3 })
	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["msg"] != "Error occurred, retrying" {
			continue
		}
		lines++
		if l["handler"] != "projection" || l["message_id"] != id {
			t.Errorf("a retry line that does not name its message: %s", line)
		}
		if _, ok := l["wait_time_ms"].(float64); !ok || l["wait_time"] != nil {
			t.Errorf("a retry line without its wait in ms: %s", line)
		}
	}
	if lines != 2 {
		t.Fatalf("%d retry lines, want 2:\n%s", lines, logs.String())
	}
}
