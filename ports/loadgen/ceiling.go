package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Ceiling measures the bare transport: n messages published on each topic,
// one publisher per topic, and consumed by one subscriber per topic, with
// nothing in between. It is the bound any system on the bus stays under.
// It returns messages per second, from the first publish to the last ack.
func Ceiling(ctx context.Context, pub message.Publisher, subscribe func(topic string) (<-chan *message.Message, error), topics []string, n int) (float64, error) {
	if len(topics) == 0 || n < 1 {
		return 0, errors.New("ceiling: topics and a message count are required")
	}
	streams := make([]<-chan *message.Message, len(topics))
	for i, topic := range topics {
		var err error
		if streams[i], err = subscribe(topic); err != nil {
			return 0, err
		}
	}
	payload := []byte(`{"OrderID":"01a2131f-20fd-7f32-962a-af668c0a216f","ConfirmedAt":"2026-11-25T14:32:18.559Z"}`)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(topics))
	for i, topic := range topics {
		wg.Go(func() {
			for range n {
				if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), payload)); err != nil {
					errs <- fmt.Errorf("publish: %w", err)
					return
				}
			}
		})
		wg.Go(func() {
			for range n {
				select {
				case m, ok := <-streams[i]:
					if !ok {
						errs <- errors.New("subscription closed")
						return
					}
					m.Ack()
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n*len(topics)) / time.Since(start).Seconds(), nil
}
