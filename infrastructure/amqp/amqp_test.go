package amqp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"shop/cqrs"
	"shop/cqrs/metadata"
	"shop/infrastructure/amqp"
	"shop/infrastructure/amqp/amqptest"
)

// connect connects a bus whose queues carry prefix; it closes when the test
// ends.
func connect(t *testing.T, url, prefix string) *amqp.Bus {
	t.Helper()
	bus, err := amqp.New(amqp.Config{URL: url, Prefetch: 10, ChannelPoolSize: 2, Confirms: true, QueuePrefix: prefix}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	return bus
}

// declared is a bus of the test's own whose queue "group" is bound to its
// topic; both are deleted when the test ends.
func declared(t *testing.T) (url, prefix, topic string, bus *amqp.Bus) {
	t.Helper()
	url = amqptest.URL(t)
	prefix = "test-" + watermill.NewShortUUID() + "."
	topic = prefix + "events.order.0"
	bus = connect(t, url, prefix)
	t.Cleanup(func() { amqptest.DeleteQueues(t, url, []string{prefix + "group"}, []string{topic}) })
	if err := bus.Declare("group", topic); err != nil {
		t.Fatal(err)
	}
	return url, prefix, topic, bus
}

func TestAMessageThatCannotBeReadIsHandedOnMarkedInsteadOfRequeuedForever(t *testing.T) {
	t.Parallel()
	// Declared before anything is published: nothing is dropped by an exchange without queues.
	url, _, topic, bus := declared(t)

	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Confirmed before the next is published, on another connection: across
	// connections RabbitMQ keeps no order otherwise.
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	// Written by something else than Watermill: no message id header, and a
	// header that is not a string.
	confirm, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), topic, "", false, false, amqp091.Publishing{Body: []byte("hello"), Headers: amqp091.Table{"count": int32(7)}})
	if err != nil {
		t.Fatal(err)
	}
	if !confirm.Wait() {
		t.Fatal("RabbitMQ refused the message")
	}
	good := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	good.Metadata.Set(metadata.NameKey, "order.placed")
	if err := bus.Publisher().Publish(topic, good); err != nil {
		t.Fatal(err)
	}

	sub, err := bus.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	if !bus.Connected() {
		t.Fatal("bus not connected")
	}
}

func TestAClosingSubscriberLetsTheMessageInHandBeAcknowledgedBeforeTheStandbyTakesOver(t *testing.T) {
	t.Parallel()
	// Two processes, each with its own connections, on one queue: one
	// consumes, the other stands by.
	url, prefix, topic, active := declared(t)
	standby := connect(t, url, prefix)
	var ids []string
	for range 2 {
		m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		if err := active.Publisher().Publish(topic, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.UUID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribe := func(bus *amqp.Bus) (message.Subscriber, <-chan *message.Message) {
		raw, err := bus.Subscriber("group")
		if err != nil {
			t.Fatal(err)
		}
		sub := cqrs.NewDrainingSubscriber(raw, 10*time.Second)
		t.Cleanup(func() { _ = sub.Close() })
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		return sub, msgs
	}
	receive := func(msgs <-chan *message.Message) *message.Message {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("nothing delivered")
			return nil
		}
	}

	activeSub, activeMsgs := subscribe(active)
	inHand := receive(activeMsgs)
	if inHand.UUID != ids[0] {
		t.Fatalf("first delivery %s, want %s", inHand.UUID, ids[0])
	}
	_, standbyMsgs := subscribe(standby)
	// The process stops while its handler works on the first message.
	closed := make(chan error, 1)
	go func() { closed <- activeSub.Close() }()
	select {
	case m := <-standbyMsgs:
		t.Fatalf("the standby got %s while the closing consumer still handled %s", m.UUID, inHand.UUID)
	case err := <-closed:
		t.Fatalf("closed with a message in hand: %v", err)
	case <-time.After(time.Second):
	}
	inHand.Ack()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	// The standby goes on with the next message, never the one acknowledged.
	next := receive(standbyMsgs)
	next.Ack()
	if next.UUID != ids[1] {
		t.Fatalf("the standby got %s, want %s", next.UUID, ids[1])
	}
	select {
	case m := <-standbyMsgs:
		t.Fatalf("the standby got %s again", m.UUID)
	case <-time.After(500 * time.Millisecond):
	}
}

func TestTheBacklogCountsTheQueuesThereAreAndPassesOverTheOthers(t *testing.T) {
	t.Parallel()
	_, _, topic, bus := declared(t)
	for range 2 {
		if err := bus.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))); err != nil {
			t.Fatal(err)
		}
	}
	// A missing queue closes the channel the count is read on; the queues
	// after it are still counted.
	backlog, err := bus.Backlog(context.Background(), []string{"missing", "group", "missing-too"})
	if err != nil || len(backlog) != 1 || backlog["group"] != 2 {
		t.Fatalf("backlog %v: %v", backlog, err)
	}
}

// Replicas on one queue never share its messages: one consumer is active,
// and handles them all in the order they were published, while the others
// stand by. Without single active consumer, RabbitMQ would deal them out
// round robin and two of an aggregate's events would be handled at once.
func TestOneConsumerOfAQueueIsActiveAndTakesEveryMessageInOrder(t *testing.T) {
	t.Parallel()
	url, prefix, topic, first := declared(t)
	second := connect(t, url, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type delivery struct {
		consumer int
		id       string
	}
	deliveries := make(chan delivery, 100)
	for i, bus := range []*amqp.Bus{first, second} {
		sub, err := bus.Subscriber("group")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for m := range msgs {
				deliveries <- delivery{i, m.UUID}
				m.Ack()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // both consumers registered
	var published []string
	for range 20 {
		m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
		if err := first.Publisher().Publish(topic, m); err != nil {
			t.Fatal(err)
		}
		published = append(published, m.UUID)
	}
	var got []delivery
	for len(got) < len(published) {
		select {
		case d := <-deliveries:
			got = append(got, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages delivered", len(got), len(published))
		}
	}
	for i, d := range got {
		if d.consumer != got[0].consumer || d.id != published[i] {
			t.Fatalf("delivery %d went to consumer %d (the first to %d), message %s (want %s)", i, d.consumer, got[0].consumer, d.id, published[i])
		}
	}
}

// A consumer group's queue is named after the group, so one subscriber
// taking a second topic would mix two topics' messages in one queue: it is
// refused, and the first topic's subscription goes on.
func TestASubscriberRefusesASecondTopic(t *testing.T) {
	t.Parallel()
	_, prefix, topic, bus := declared(t)
	other := prefix + "events.stock.0"
	sub, err := bus.Subscriber("group")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(ctx, other); !errors.Is(err, amqp.ErrSecondTopic) {
		t.Fatalf("second topic: %v, want %v", err, amqp.ErrSecondTopic)
	}
	m := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	if err := bus.Publisher().Publish(topic, m); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-msgs:
		got.Ack()
		if got.UUID != m.UUID {
			t.Fatalf("got %s, want %s", got.UUID, m.UUID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first topic's message did not arrive")
	}
}
