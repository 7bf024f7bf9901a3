// Package amqp is the RabbitMQ bus: watermill-amqp with durable fanout
// exchanges (one per topic) and one durable, single-active-consumer queue per
// consumer group, so that every consumer group gets every message of its
// topics, in order, whichever replica of its service consumes it. Its
// publisher is its own (publisher.go), over watermill-amqp's connection.
package amqp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"shop/app/fault"
	"shop/cqrs/metadata"
)

// Config is how the bus talks to RabbitMQ.
type Config struct {
	// URL is RABBITMQ_URL.
	URL string
	// Prefetch is how many unacknowledged messages RabbitMQ pushes to each
	// consumer ahead of its acknowledgements (AMQP_PREFETCH). Watermill handles
	// one message at a time per subscription; the prefetched ones cut the wait
	// for the next. Prefetch 1 costs a round trip per message.
	Prefetch int
	// ChannelPoolSize is how many channels publishers share (AMQP_CHANNEL_POOL).
	// Without a pool every publish opens and closes a channel, about ten times
	// slower.
	ChannelPoolSize int
	// Confirms makes every publish wait until RabbitMQ has the message
	// (AMQP_CONFIRMS). The relay marks an event published only then.
	Confirms bool
	// QueuePrefix is put before every queue name, as the topics' prefix is
	// before every exchange name.
	QueuePrefix string
}

// Validate reports every setting out of range.
func (c Config) Validate() error {
	var err error
	if c.URL == "" {
		err = errors.Join(err, errors.New("RABBITMQ_URL is required"))
	}
	if c.Prefetch < 1 || c.Prefetch > 65535 {
		err = errors.Join(err, errors.New("AMQP_PREFETCH must be from 1 to 65535"))
	}
	if c.ChannelPoolSize < 0 || c.ChannelPoolSize > 1024 {
		err = errors.Join(err, errors.New("AMQP_CHANNEL_POOL must be from 0 to 1024"))
	}
	return err
}

// Bus publishes and subscribes over two connections: one for publishing, one
// shared by every subscriber of the process.
type Bus struct {
	cfg       Config
	logger    watermill.LoggerAdapter
	pubConn   *wamqp.ConnectionWrapper
	subConn   *wamqp.ConnectionWrapper
	publisher *publisher
}

// New connects to RabbitMQ. The connections reconnect by themselves.
func New(cfg Config, logger watermill.LoggerAdapter) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, logger: logger}
	// watermill-amqp's reconnect waits grow to a minute: after an outage of
	// a minute the next attempt came up to 30 s after RabbitMQ was back, and
	// the outbox's backlog and every consumer waited for it. Attempts every
	// couple of seconds cost the broker nothing.
	conn := wamqp.ConnectionConfig{AmqpURI: cfg.URL, Reconnect: &wamqp.ReconnectConfig{
		BackoffInitialInterval:     250 * time.Millisecond,
		BackoffRandomizationFactor: 0.5,
		BackoffMultiplier:          1.5,
		BackoffMaxInterval:         2 * time.Second,
	}}
	var err error
	if b.pubConn, err = wamqp.NewConnection(conn, logger); err != nil {
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	if b.subConn, err = wamqp.NewConnection(conn, logger); err != nil {
		_ = b.pubConn.Close()
		return nil, fmt.Errorf("rabbitmq: %w", err)
	}
	b.publisher = newPublisher(b.pubConn, b.config(""), cfg.ChannelPoolSize, cfg.Confirms)
	return b, nil
}

func (b *Bus) config(consumerGroup string) wamqp.Config {
	cfg := wamqp.NewDurablePubSubConfig(b.cfg.URL, func(string) string { return b.cfg.QueuePrefix + consumerGroup })
	// One consumer at a time per queue: replicas of a service share each
	// partition's queue, and round-robin delivery between them would let two
	// of an aggregate's events be handled at once, out of order. The other
	// replicas stand by and take over when the active one goes away.
	cfg.Queue.Arguments = amqp091.Table{"x-single-active-consumer": true}
	cfg.Marshaler = marshaler{}
	cfg.Consume.Qos.PrefetchCount = b.cfg.Prefetch
	return cfg
}

// Publisher publishes to the exchange of each topic. Its failures while
// RabbitMQ cannot be reached are fault.Unavailable.
func (b *Bus) Publisher() message.Publisher { return classifyingPublisher{b.publisher} }

type classifyingPublisher struct{ message.Publisher }

func (p classifyingPublisher) Publish(topic string, msgs ...*message.Message) error {
	return classify(p.Publisher.Publish(topic, msgs...))
}

// classify marks the failures of a broker that cannot be reached, or that
// closed the connection or channel, as transient. watermill-amqp reports
// some of them only in words ("not connected to AMQP", a closed pub/sub, a
// delivery not confirmed), which are matched as such.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var amqpErr *amqp091.Error
	var netErr net.Error
	msg := err.Error()
	if errors.Is(err, amqp091.ErrClosed) || errors.As(err, &amqpErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(msg, "not connected to AMQP") || strings.Contains(msg, "connection closed") ||
		strings.Contains(msg, "delivery not confirmed") {
		return fault.Unavailable("rabbitmq", err)
	}
	return err
}

// Subscriber consumes a consumer group's queue, bound to the exchange of the
// topic it subscribes to.
//
// The queue is named after the consumer group alone, so a subscriber takes
// one topic: a second topic would bind the same queue to both exchanges and
// mix their messages in one stream. Subscribing another topic is refused
// (ErrSecondTopic); each consumer group of the topology has one topic.
func (b *Bus) Subscriber(consumerGroup string) (message.Subscriber, error) {
	sub, err := wamqp.NewSubscriberWithConnection(b.config(consumerGroup), b.logger, b.subConn)
	if err != nil {
		return nil, err
	}
	return &oneTopicSubscriber{Subscriber: sub, group: consumerGroup}, nil
}

// ErrSecondTopic is the refusal to subscribe a consumer group's queue to a
// second topic.
var ErrSecondTopic = errors.New("rabbitmq: a consumer group's queue takes one topic")

type oneTopicSubscriber struct {
	*wamqp.Subscriber
	group string

	mu    sync.Mutex
	topic string
}

func (s *oneTopicSubscriber) claim(topic string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topic != "" && s.topic != topic {
		return fmt.Errorf("%w: %s already takes %s, not also %s", ErrSecondTopic, s.group, s.topic, topic)
	}
	s.topic = topic
	return nil
}

func (s *oneTopicSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.claim(topic); err != nil {
		return nil, err
	}
	return s.Subscriber.Subscribe(ctx, topic)
}

func (s *oneTopicSubscriber) SubscribeInitialize(topic string) error {
	if err := s.claim(topic); err != nil {
		return err
	}
	return s.Subscriber.SubscribeInitialize(topic)
}

// Declare creates a consumer group's queue and binds it to a topic's
// exchange, so that messages published before the group's service first
// starts wait for it instead of being dropped by an exchange with no queue.
func (b *Bus) Declare(consumerGroup, topic string) error {
	sub, err := b.Subscriber(consumerGroup)
	if err != nil {
		return err
	}
	defer sub.Close()
	return sub.(*oneTopicSubscriber).SubscribeInitialize(topic)
}

// Connected reports whether both connections are up.
func (b *Bus) Connected() bool {
	return b.pubConn.IsConnected() && b.subConn.IsConnected()
}

// Close closes the publisher, then both connections.
func (b *Bus) Close() error {
	var errs []error
	if b.publisher != nil {
		errs = append(errs, b.publisher.Close())
	}
	if b.subConn != nil {
		errs = append(errs, b.subConn.Close())
	}
	if b.pubConn != nil {
		errs = append(errs, b.pubConn.Close())
	}
	return errors.Join(errs...)
}

// marshaler is watermill-amqp's, except that it never fails to unmarshal:
// watermill-amqp nacks a message it cannot unmarshal with requeue, before any
// middleware runs, so such a message would come back forever and block its
// queue. Instead it is handed on with metadata.UndecodableKey set, and the router
// poisons it with the reason.
type marshaler struct {
	wamqp.DefaultMarshaler
}

func (m marshaler) Unmarshal(d amqp091.Delivery) (*message.Message, error) {
	msg, err := m.DefaultMarshaler.Unmarshal(d)
	if err == nil && msg.UUID != "" {
		return msg, nil
	}
	reason := "no message id header"
	if err != nil {
		reason = err.Error()
	}
	id := d.MessageId
	if id == "" {
		id = watermill.NewUUID()
	}
	out := message.NewMessage(id, d.Body)
	for k, v := range d.Headers {
		if s, ok := v.(string); ok {
			out.Metadata.Set(k, s)
		}
	}
	out.Metadata.Set(metadata.UndecodableKey, reason)
	return out, nil
}

// Backlog reads how many messages wait in each of the queues.
func (b *Bus) Backlog(_ context.Context, queues []string) (map[string]float64, error) {
	conn := b.pubConn.Connection()
	if conn == nil || conn.IsClosed() {
		return nil, errors.New("rabbitmq: not connected")
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	defer func() { _ = ch.Close() }()
	out := make(map[string]float64, len(queues))
	for _, name := range queues {
		q, err := ch.QueueDeclarePassive(b.cfg.QueuePrefix+name, true, false, false, false, nil)
		var amqpErr *amqp091.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp091.NotFound {
			// A queue that does not exist closes the channel: open another.
			next, err := conn.Channel()
			if err != nil {
				return out, err
			}
			ch = next
			continue
		}
		if err != nil {
			return out, err
		}
		out[name] = float64(q.Messages)
	}
	return out, nil
}
