package redis_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	goredis "github.com/redis/go-redis/v9"

	"shop/cqrs/metadata"
	"shop/infrastructure/redis"
	"shop/infrastructure/redis/redistest"
)

func streams(t *testing.T, url string) *redis.Streams {
	t.Helper()
	s, err := redis.NewStreams(url, redis.StreamsConfig{Consumer: "test-" + watermill.NewShortUUID(), ClaimIdle: time.Second, Subscriptions: 4}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func raw(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opts, _ := goredis.ParseURL(url)
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestAnEntryThatCannotBeReadIsHandedOnMarkedAndDoesNotStopTheStream(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t)
	topic := prefix + "events.order.0"
	s := streams(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Written by something else than Watermill: no message id, no metadata.
	if err := raw(t, url).XAdd(ctx, &goredis.XAddArgs{Stream: topic, Values: map[string]any{"payload": "hello"}}).Err(); err != nil {
		t.Fatal(err)
	}
	good := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	good.Metadata.Set(metadata.NameKey, "order.placed")
	if err := s.Publisher().Publish(topic, good); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"undecodable", "good"} {
		select {
		case m := <-msgs:
			m.Ack()
			reason := m.Metadata.Get(metadata.UndecodableKey)
			if (want == "undecodable") != (reason != "") || (want == "good" && m.UUID != good.UUID) {
				t.Fatalf("message %d: %s %v", i, m.UUID, m.Metadata)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d never came", i)
		}
	}
}

func TestTheTrimmerRemovesOnlyWhatEveryGroupAcknowledged(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t)
	stream := prefix + "events.stock.0"
	s := streams(t, url)
	rdb := raw(t, url)
	ctx := context.Background()
	var ids []string
	for i := range 10 {
		msg := message.NewMessage(watermill.NewUUID(), []byte{byte('0' + i)})
		if err := s.Publisher().Publish(stream, msg); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := rdb.XRange(ctx, stream, "-", "+").Result()
	for _, e := range entries {
		ids = append(ids, e.ID)
	}
	trimmer := s.NewTrimmer(prefix, slog.New(slog.DiscardHandler))
	// A declared stream whose only group is gone keeps everything for the
	// next group.
	if err := s.Declare(ctx, "gone", stream); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupDestroy(ctx, stream, "gone").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := trimmer.Trim(ctx); err != nil || n != 0 {
		t.Fatalf("without groups: removed %d, %v", n, err)
	}
	for _, g := range []string{"fast", "slow"} {
		if err := s.Declare(ctx, g, stream); err != nil {
			t.Fatal(err)
		}
	}
	// fast reads and acknowledges everything; slow reads six, acknowledges the first four.
	read := func(group string, n int64) []goredis.XMessage {
		res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: n}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Messages
	}
	for _, m := range read("fast", 10) {
		rdb.XAck(ctx, stream, "fast", m.ID)
	}
	for _, m := range read("slow", 6)[:4] {
		rdb.XAck(ctx, stream, "slow", m.ID)
	}
	n, err := trimmer.Trim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := rdb.XRange(ctx, stream, "-", "+").Result()
	if n != 4 || len(left) != 6 || left[0].ID != ids[4] {
		t.Fatalf("removed %d, left %d from %s (want from %s)", n, len(left), left[0].ID, ids[4])
	}
	// slow acknowledges its pending ones; the unread ones stay.
	pending, _ := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: "slow", Start: "-", End: "+", Count: 10}).Result()
	for _, p := range pending {
		rdb.XAck(ctx, stream, "slow", p.ID)
	}
	if n, _ := trimmer.Trim(ctx); n != 1 { // up to the last delivered one, which stays
		t.Fatalf("second trim removed %d", n)
	}
	left, _ = rdb.XRange(ctx, stream, "-", "+").Result()
	if len(left) != 5 || left[0].ID != ids[5] {
		t.Fatalf("left %d from %s", len(left), left[0].ID)
	}
}

func TestARestartedConsumerTakesBackItsPendingEntriesBeforeNewOnes(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	topic := redistest.Prefix(t) + "events.order.0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumer := "host-" + watermill.NewShortUUID()
	cfg := redis.StreamsConfig{Consumer: consumer, ClaimIdle: 3 * time.Second, Subscriptions: 1}
	first, err := redis.NewStreams(url, cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 4 {
		m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		ids = append(ids, m.UUID)
		if err := first.Publisher().Publish(topic, m); err != nil {
			t.Fatal(err)
		}
	}
	// The previous run read the first two entries and stopped before
	// acknowledging them.
	rdb := raw(t, url)
	if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "group", Consumer: consumer, Streams: []string{topic, ">"}, Count: 2}).Err(); err != nil {
		t.Fatal(err)
	}

	restarted, err := redis.NewStreams(url, cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if err := restarted.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	// The refresh of held entries runs before the subscriber does, and must
	// leave the previous run's entries to it.
	go restarted.KeepHeld(ctx)
	time.Sleep(cfg.ClaimIdle/3 + 200*time.Millisecond)
	receiveInOrder(ctx, t, restarted, topic, ids)
}

func TestTheTrimmerLeavesStreamsThatAreNotTheTopicsAlone(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t)
	s := streams(t, url)
	rdb := raw(t, url)
	ctx := context.Background()
	// Streams of another system in the same Redis, under the platform's
	// prefix and one named like its topics, each read and acknowledged by
	// its own consumer group: not the trimmer's to trim.
	topic := prefix + "events.order.0"
	foreign := []string{prefix + "sessions", prefix + "events.user.0"}
	if err := s.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	for _, stream := range foreign {
		if err := rdb.XGroupCreateMkStream(ctx, stream, "their-group", "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func(stream, group string) {
		for i := range 3 {
			if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: map[string]any{"n": i}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		res, err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{stream, ">"}, Count: 10}).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res[0].Messages {
			rdb.XAck(ctx, stream, group, m.ID)
		}
	}
	readAll(topic, "group")
	for _, stream := range foreign {
		readAll(stream, "their-group")
	}
	n, err := s.NewTrimmer(prefix, slog.New(slog.DiscardHandler)).Trim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the last delivered entry stays
		t.Fatalf("removed %d, want the topic's 2 entries before its last delivered one", n)
	}
	for _, stream := range foreign {
		if left, _ := rdb.XLen(ctx, stream).Result(); left != 3 {
			t.Errorf("%s: %d entries left of 3", stream, left)
		}
	}
}

func TestALiveConsumerKeepsWhatItHoldsAndADeadOnesEntriesAreClaimed(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	topic := redistest.Prefix(t) + "events.order.0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	consumer := func(name string) (*redis.Streams, message.Subscriber, <-chan *message.Message) {
		s, err := redis.NewStreams(url, redis.StreamsConfig{Consumer: name + "-" + watermill.NewShortUUID(), ClaimIdle: time.Second, Subscriptions: 1}, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Declare(ctx, "group", topic); err != nil {
			t.Fatal(err)
		}
		sub, err := s.Subscriber("group")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		return s, sub, msgs
	}
	receive := func(msgs <-chan *message.Message, want string) *message.Message {
		t.Helper()
		select {
		case m := <-msgs:
			if m.UUID != want {
				t.Fatalf("got %s, want %s", m.UUID, want)
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never came", want)
			return nil
		}
	}

	live, liveSub, held := consumer("live")
	keepCtx, stopKeeping := context.WithCancel(ctx)
	go live.KeepHeld(keepCtx)
	var ids []string
	for range 2 {
		m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		if err := live.Publisher().Publish(topic, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.UUID)
	}
	// The live consumer holds the first entry unacknowledged, as a handler
	// retrying through an outage does, and has read the second ahead.
	receive(held, ids[0])
	_, _, other := consumer("other")
	select {
	case m := <-other:
		t.Fatalf("an entry a live consumer holds was claimed: %s", m.UUID)
	case <-time.After(3 * time.Second): // three times the claim threshold
	}

	// Once it is gone, what it held is claimed when idle for the threshold,
	// in order.
	stopKeeping()
	if err := liveSub.Close(); err != nil {
		t.Fatal(err)
	}
	receive(other, ids[0]).Ack()
	receive(other, ids[1]).Ack()
}

// A Redis that lost its data (restarted without persistence, a failover to
// an empty replica, a flush) has streams again as soon as anything is
// published, but no consumer groups: each subscriber creates its group
// again and reads what was published after the loss, and the failed reads
// are told.
func TestAConsumerGroupLostWithRedisDataIsCreatedAgain(t *testing.T) {
	t.Parallel()
	server := redistest.StartServer(t)
	topic := "events.order.0"
	var mu sync.Mutex
	recreated := 0
	s, err := redis.NewStreams(server.URL(), redis.StreamsConfig{Consumer: "c-1", ClaimIdle: time.Second, Subscriptions: 2,
		ReadFailed: func(group string, again bool) {
			mu.Lock()
			defer mu.Unlock()
			if group == "group" && again {
				recreated++
			}
		}}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	receive := func(want *message.Message) {
		t.Helper()
		select {
		case m := <-msgs:
			m.Ack()
			if m.UUID != want.UUID {
				t.Fatalf("got %s, want %s", m.UUID, want.UUID)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s never came", want.UUID)
		}
	}
	before := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	if err := s.Publisher().Publish(topic, before); err != nil {
		t.Fatal(err)
	}
	receive(before)
	if len(s.ReadFailures(time.Minute)) != 0 {
		t.Fatalf("read failures before the loss: %v", s.ReadFailures(time.Minute))
	}

	if err := raw(t, server.URL()).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	after := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	if err := s.Publisher().Publish(topic, after); err != nil {
		t.Fatal(err)
	}
	receive(after)
	failing := s.ReadFailures(time.Minute)
	if !strings.Contains(failing["group"], "NOGROUP") {
		t.Fatalf("read failures after the loss: %v, want the group's NOGROUP", failing)
	}
	mu.Lock()
	defer mu.Unlock()
	if recreated == 0 {
		t.Fatal("the group's re-creation was not told")
	}
}

// A replica that takes a partition over takes first what the previous owner
// was handed and did not acknowledge, before anything newer; where the group
// does not exist (Redis lost its data, nothing published yet) there is
// nothing to take, and the subscriber creates it.
func TestTakeOverDeliversWhatThePreviousOwnerHeldFirst(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	topic := redistest.Prefix(t) + "events.order.0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := streams(t, url)
	if err := next.TakeOver(ctx, "group", topic); err != nil {
		t.Fatalf("no group yet: %v", err)
	}
	previous := streams(t, url)
	if err := previous.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		if err := previous.Publisher().Publish(topic, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.UUID)
	}
	// The previous owner was handed the first entry and stopped without
	// acknowledging it (killed): it stays pending on that consumer.
	if err := raw(t, url).XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "group", Consumer: "previous", Streams: []string{topic, ">"}, Count: 1}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := next.TakeOver(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	receiveInOrder(ctx, t, next, topic, ids)
}

// receiveInOrder subscribes "group" to topic on s and receives the entries
// ids, in that order, acknowledging each.
func receiveInOrder(ctx context.Context, t *testing.T, s *redis.Streams, topic string, ids []string) {
	t.Helper()
	sub, err := s.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ids {
		select {
		case m := <-msgs:
			m.Ack()
			if m.UUID != want {
				t.Fatalf("entry %d is %s, want %s (in order %v)", i, m.UUID, want, ids)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("entry %d never came", i)
		}
	}
}

// What a subscriber held when it closed (entries read ahead and never handed
// on, as when its partition moved to another replica) is handed back: the
// process, still alive and keeping what it reads, no longer keeps those, and
// another consumer of the group gets them.
func TestAClosedSubscriberHandsBackWhatItHeld(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	topic := redistest.Prefix(t) + "events.stock.3"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	previous := streams(t, url)
	if err := previous.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	go previous.KeepHeld(ctx)
	m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	if err := previous.Publisher().Publish(topic, m); err != nil {
		t.Fatal(err)
	}
	sub, err := previous.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-msgs: // handed on, never acknowledged
	case <-time.After(10 * time.Second):
		t.Fatal("the entry never came")
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	receiveInOrder(ctx, t, streams(t, url), topic, []string{m.UUID})
}

// A subscriber that closes may still have a read under way in Redis (a
// blocking XREADGROUP the library does not wait for). An entry published
// after the close must not be taken by that read, where nobody would handle
// it until the claim idle time: the next owner, which took the partition
// over after the close, gets it at once.
func TestAReadUnderWayAtCloseTakesNothingFromTheNextOwner(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	topic := redistest.Prefix(t) + "events.stock.5"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	patient := func() *redis.Streams {
		// Claimed after a minute only: an entry lost to the closed
		// subscriber would not come within the test's wait.
		s, err := redis.NewStreams(url, redis.StreamsConfig{Consumer: "c-" + watermill.NewShortUUID(), ClaimIdle: time.Minute, Subscriptions: 1}, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	previous, next := patient(), patient()
	if err := previous.Declare(ctx, "group", topic); err != nil {
		t.Fatal(err)
	}
	// Each round hands the group from one to the other; the closing one is
	// always blocked in a read, the entry published right after its close.
	// An earlier round's entry may come again (its acknowledgement cut off
	// by the close): at least once, as ever.
	earlier := map[string]bool{}
	for round := range 5 {
		sub, err := previous.Subscriber("group")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // past the first read, blocked in the next
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if err := next.TakeOver(ctx, "group", topic); err != nil {
			t.Fatal(err)
		}
		m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		if err := next.Publisher().Publish(topic, m); err != nil {
			t.Fatal(err)
		}
		func() {
			sub, err := next.Subscriber("group")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			msgs, err := sub.Subscribe(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case got := <-msgs:
					got.Ack()
					if got.UUID == m.UUID {
						return
					}
					if !earlier[got.UUID] {
						t.Fatalf("round %d: got %s, want %s", round, got.UUID, m.UUID)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("round %d: the entry published after the close went to the closed subscriber's read", round)
				}
			}
		}()
		earlier[m.UUID] = true
		previous, next = next, previous
	}
}
