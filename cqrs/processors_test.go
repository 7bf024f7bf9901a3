package cqrs_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"shop/app/eventstore"
	"shop/cqrs"
	"shop/domain/inventory"
	"shop/infrastructure/memory"
)

// slowToClose is a subscriber whose Close takes a while, as a Redis Streams
// subscriber's does while a read is under way and it hands back what it held.
type slowToClose struct {
	message.Subscriber
	closed atomic.Bool
}

func (s *slowToClose) Close() error {
	time.Sleep(200 * time.Millisecond)
	s.closed.Store(true)
	return nil
}

type handlerFunc func(context.Context, eventstore.Record) error

func (f handlerFunc) Handle(ctx context.Context, rec eventstore.Record) error { return f(ctx, rec) }

// A partition's stop returns only once its subscribers have closed: the
// partition's lease is given up then, and the next owner must find nothing
// more taken or held under this replica's name.
func TestAPartitionStopsOnlyOnceItsSubscribersClosed(t *testing.T) {
	registry, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: inventory.StockAggregateType, Events: inventory.StockEvents()})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer pubsub.Close()
	var subs []*slowToClose
	processors, err := cqrs.NewProcessors(cqrs.ProcessorsConfig{
		NewRouter: func() (*message.Router, error) {
			return message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
		},
		Topics:    cqrs.Topics{Partitions: 2},
		Marshaler: cqrs.Marshaler{Registry: registry},
		Subscribers: func(string) (message.Subscriber, error) {
			s := &slowToClose{Subscriber: pubsub}
			subs = append(subs, s)
			return s, nil
		},
		Known: cqrs.NewKnownNames(),
		Dedup: cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 10), logger),
		Ended: func(partition int, err error) { t.Errorf("partition %d ended by itself: %v", partition, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range inventory.StockEvents() {
		names = append(names, e.Name())
	}
	noop := handlerFunc(func(context.Context, eventstore.Record) error { return nil })
	for _, name := range []string{"projection", "policy"} {
		if err := processors.AddEventHandler(name, inventory.StockAggregateType, names, noop, cqrs.EventHandlerOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stop, err := processors.StartPartition(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 {
		t.Fatalf("%d subscribers for two handlers", len(subs))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		if !s.closed.Load() {
			t.Errorf("subscriber %d still closing when the partition's stop returned", i)
		}
	}
}
