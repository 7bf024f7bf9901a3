package cqrs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"shop/cqrs"
	"shop/cqrs/metadata"
	"shop/infrastructure/memory"
)

// BenchmarkRouterPerMessage is the floor under every handler: one message
// published on the embedded bus and handled by a handler that does nothing,
// through a bare Watermill router and through the production middleware stack.
// An order costs sixteen such deliveries.
func BenchmarkRouterPerMessage(b *testing.B) {
	for _, stack := range []string{"bare", "production"} {
		b.Run(stack, func(b *testing.B) {
			pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
			logger := slog.New(slog.DiscardHandler)
			router, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
			if stack == "production" {
				dedup := cqrs.NewDeduplicator(memory.NewProcessedMessages(time.Hour, 1_000_000), logger)
				dedup.Guard("handler", "handler")
				router, err = cqrs.NewRouter(cqrs.RouterConfig{MaxRetries: 3, RetryDelay: time.Millisecond}, pubsub,
					cqrs.Topics{Partitions: 1}, cqrs.NewKnownNames("bench.msg"), dedup, logger)
			}
			if err != nil {
				b.Fatal(err)
			}
			router.AddConsumerHandler("handler", "bench", pubsub, func(*message.Message) error { return nil })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = router.Run(ctx) }()
			<-router.Running()
			b.ResetTimer()
			for range b.N {
				msg := message.NewMessage(watermill.NewUUID(), []byte("{}"))
				msg.Metadata.Set(metadata.NameKey, "bench.msg")
				if err := pubsub.Publish("bench", msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
