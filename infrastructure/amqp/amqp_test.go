package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"shop/cqrs"
	"shop/infrastructure/amqp"
	"shop/infrastructure/amqp/amqptest"
)

func TestAMessageThatCannotBeReadIsHandedOnMarkedInsteadOfRequeuedForever(t *testing.T) {
	t.Parallel()
	url := amqptest.URL(t)
	prefix := "test-" + watermill.NewShortUUID() + "."
	topic := prefix + "events.order.0"
	bus, err := amqp.New(amqp.Config{URL: url, Prefetch: 10, ChannelPoolSize: 2, Confirms: true, QueuePrefix: prefix}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	t.Cleanup(func() { amqptest.DeleteQueues(t, url, []string{prefix + "group"}, []string{topic}) })
	// Declared before anything is published: nothing is dropped by an exchange without queues.
	if err := bus.Declare("group", topic); err != nil {
		t.Fatal(err)
	}

	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	// Written by something else than Watermill: no message id header, and a
	// header that is not a string.
	err = ch.PublishWithContext(context.Background(), topic, "", false, false, amqp091.Publishing{Body: []byte("hello"), Headers: amqp091.Table{"count": int32(7)}})
	if err != nil {
		t.Fatal(err)
	}
	good := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	good.Metadata.Set(cqrs.NameKey, "order.placed")
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
			reason := m.Metadata.Get(cqrs.UndecodableKey)
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
