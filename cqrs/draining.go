package cqrs

import (
	"context"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// DrainingSubscriber lets the messages a subscriber handed out be
// acknowledged before the subscriber closes.
//
// Router.Close closes each handler's subscriber at once, while the handlers
// still run (finishAttempt lets the attempt under way end). watermill-amqp
// then nacks every message it handed out, so RabbitMQ gives it to the standby
// consumer of the queue, which handles it while this process still does, and
// the acknowledgement that follows is lost. Wrapped, Close first stops
// handing out messages, waits until every message handed out is acked or
// nacked, or the timeout, and only then closes the subscriber. A message that
// arrives meanwhile is left unanswered: the subscriber nacks it as it closes,
// for the next consumer, instead of a nack now that RabbitMQ would deliver
// straight back to this still active consumer.
//
// It serves watermill-amqp, which acknowledges to RabbitMQ before its Close
// returns. watermill-redisstream sends its XACK after the message is acked,
// and skips it once closing: this wrapper would not make that acknowledgement
// land, and a Redis entry left pending is not handed to anyone else at once
// (KeepHeld keeps it until the process is gone).
type DrainingSubscriber struct {
	inner   message.Subscriber
	timeout time.Duration

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	out     sync.WaitGroup // messages handed out and not yet acked or nacked
}

// NewDrainingSubscriber wraps inner; Close waits up to timeout.
func NewDrainingSubscriber(inner message.Subscriber, timeout time.Duration) *DrainingSubscriber {
	return &DrainingSubscriber{inner: inner, timeout: timeout, closing: make(chan struct{})}
}

// Subscribe subscribes inner and hands its messages on.
func (s *DrainingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.inner.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go s.forward(in, out)
	return out, nil
}

func (s *DrainingSubscriber) forward(in <-chan *message.Message, out chan<- *message.Message) {
	defer close(out)
	for msg := range in {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			continue // unanswered: the subscriber nacks it as it closes
		}
		s.out.Add(1)
		s.mu.Unlock()
		select {
		case out <- msg:
			go func() {
				defer s.out.Done()
				select {
				case <-msg.Acked():
				case <-msg.Nacked():
				}
			}()
		case <-s.closing:
			s.out.Done() // not handed out after all
		}
	}
}

// Close stops handing out messages, waits for those handed out, then closes
// the subscriber.
func (s *DrainingSubscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		s.out.Wait()
		close(drained)
	}()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
	}
	return s.inner.Close()
}
