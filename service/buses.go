package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"shop/cqrs"
	"shop/infrastructure/amqp"
	"shop/infrastructure/redis"
)

// busKind is one bus the services can talk over: how its settings are
// checked and how it is opened. Adding a bus is an entry here, its
// constructor below, and its adapter in infrastructure/.
type busKind struct {
	// validate checks the settings this bus reads; each adapter checks its
	// own (amqp.Config, redis.StreamsConfig), the rules between settings are
	// here.
	validate func(c Config) error
	open     func(cfg Config, logger *slog.Logger, readFailed func(consumerGroup string, recreated bool)) (Bus, error)
	// reachesOthers says whether the services of other processes hear it.
	reachesOthers bool
}

var buses = map[string]busKind{
	BusGoChannel: {validate: validateGoChannel, open: newGoChannelBus},
	BusAMQP:      {validate: func(c Config) error { return c.AMQP.Validate() }, open: newAMQPBus, reachesOthers: true},
	BusRedis:     {validate: validateStreams, open: newStreamsBus, reachesOthers: true},
}

// busNames lists the buses, sorted, for messages.
func busNames() string {
	return strings.Join(slices.Sorted(maps.Keys(buses)), ", ")
}

// validateGoChannel: GoChannel holds messages in this process's memory
// only. Next to a durable event store, a stop would lose messages in flight
// while the store says they were published; and the services of other
// processes would never hear this one's events.
func validateGoChannel(c Config) error {
	var err error
	if c.MongoURL != "" {
		err = errors.Join(err, errors.New("BUS=gochannel keeps messages in memory only: with MONGODB_URL, use BUS=amqp or BUS=redis"))
	}
	if len(c.Services) != len(AllServices) {
		err = errors.Join(err, errors.New("BUS=gochannel reaches only this process: run every service (SERVICES unset), or use BUS=amqp or BUS=redis"))
	}
	return err
}

func validateStreams(c Config) error {
	err := c.Streams.Validate()
	if c.RedisURL == "" {
		err = errors.Join(err, errors.New("BUS=redis needs REDIS_URL"))
	}
	// A predecessor in a dead consumer's pending list comes once claimed.
	if c.Router.EarlyPatience <= c.Streams.ClaimIdle*5/4 {
		err = errors.Join(err, errors.New("EARLY_PATIENCE must exceed REDIS_CLAIM_IDLE by a quarter, the time a dead consumer's entries take to be claimed"))
	}
	return err
}

// OpenBus connects to the broker cfg names, for a tool that watches the bus
// of services running elsewhere (the load generator). The in-process bus
// reaches no other process and is refused.
func OpenBus(cfg Config, logger *slog.Logger) (Bus, error) {
	kind, ok := buses[cfg.Bus]
	if !ok || !kind.reachesOthers {
		return Bus{}, fmt.Errorf("BUS %q reaches no other process", cfg.Bus)
	}
	return kind.open(cfg, logger, nil)
}

// newGoChannelBus is the in-process bus of the embedded mode.
//
// Publishing blocks until every subscriber's queue (queuedSubscriber) took
// the message: without that, GoChannel hands each message to its subscribers
// on a goroutine of its own, and two events of one aggregate can overtake
// each other. Blocking is safe here because nothing that publishes waits for
// itself: the relays, the poison queue and the operators' replays publish,
// and the command handlers the policies call append to the store without
// publishing.
func newGoChannelBus(_ Config, logger *slog.Logger, _ func(string, bool)) (Bus, error) {
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, cqrs.WatermillLogger(logger))
	var closed atomic.Bool
	requeue := &backgroundPublisher{publisher: pubsub, logger: logger}
	return Bus{
		Name:        "gochannel",
		Publisher:   pubsub,
		Requeue:     requeue,
		Subscribers: func(string) (message.Subscriber, error) { return queuedSubscriber{pubsub}, nil },
		// A GoChannel keeps nothing for subscribers that are not there yet.
		Declare: func(context.Context, string, string) error { return nil },
		Check: func(context.Context) error {
			if closed.Load() {
				return errors.New("closed")
			}
			return nil
		},
		Close: func() error {
			closed.Store(true)
			err := pubsub.Close()
			requeue.wait()
			return err
		},
	}, nil
}

// backgroundPublisher publishes without waiting. A handler of a blocking
// GoChannel that publishes into the topic it reads would wait for the
// delivery of its own message, which waits for the handler to return. What
// it publishes lives in this process only, as everything on GoChannel does.
type backgroundPublisher struct {
	publisher message.Publisher
	logger    *slog.Logger
	running   sync.WaitGroup
}

func (p *backgroundPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.running.Go(func() {
		if err := p.publisher.Publish(topic, msgs...); err != nil {
			p.logger.Warn("message not published", "topic", topic, "error", err)
		}
	})
	return nil
}

// Close does nothing: the bus closes the GoChannel, which ends what waits.
func (p *backgroundPublisher) Close() error { return nil }

func (p *backgroundPublisher) wait() { p.running.Wait() }

// queuedSubscriber gives each consumer of the in-process bus a queue of its
// own, as a broker's queue is: it takes every message off the GoChannel at
// once, acknowledging it there, and hands the messages to its consumer one at
// a time, in order, each again after a nack.
//
// Without it the blocking GoChannel waits for every consumer of a topic to
// acknowledge a message before it delivers the next, so that one handler
// retrying (a notification provider down, its notification waiting for its
// next attempt) held every other handler of the topic, and orders stayed
// undecided for as long. Acknowledging early loses nothing the embedded mode
// would keep: all it holds lives in this process's memory. Close does
// nothing: routers close their subscribers when they stop, and the process's
// one GoChannel must stay open for the others until the last has stopped.
type queuedSubscriber struct{ pubsub *gochannel.GoChannel }

func (queuedSubscriber) Close() error { return nil }

func (q queuedSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := q.pubsub.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		queue  []*message.Message
		ended  bool
		queued = sync.NewCond(&mu)
	)
	go func() {
		for msg := range in {
			mu.Lock()
			queue = append(queue, msg)
			queued.Signal()
			mu.Unlock()
			msg.Ack()
		}
		mu.Lock()
		ended = true
		queued.Signal()
		mu.Unlock()
	}()
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for {
			mu.Lock()
			for len(queue) == 0 && !ended {
				queued.Wait()
			}
			if len(queue) == 0 {
				mu.Unlock()
				return
			}
			next := queue[0]
			queue = queue[1:]
			mu.Unlock()
			if !handOn(ctx, next, out) {
				return
			}
		}
	}()
	return out, nil
}

// handOn gives msg to out until it is acknowledged, a copy each time, and
// reports false when ctx ended first.
func handOn(ctx context.Context, msg *message.Message, out chan<- *message.Message) bool {
	for {
		m := msg.Copy()
		select {
		case out <- m:
		case <-ctx.Done():
			return false
		}
		select {
		case <-m.Acked():
			return true
		case <-m.Nacked():
		case <-ctx.Done():
			return false
		}
	}
}

// draining makes RabbitMQ's subscribers let the messages they handed out be
// acknowledged before they close (cqrs.DrainingSubscriber).
func draining(subscriber func(consumerGroup string) (message.Subscriber, error), timeout time.Duration) func(string) (message.Subscriber, error) {
	return func(consumerGroup string) (message.Subscriber, error) {
		sub, err := subscriber(consumerGroup)
		if err != nil {
			return nil, err
		}
		return cqrs.NewDrainingSubscriber(sub, timeout), nil
	}
}

func newAMQPBus(cfg Config, logger *slog.Logger, _ func(string, bool)) (Bus, error) {
	amqpCfg := cfg.AMQP
	amqpCfg.QueuePrefix = cfg.Topics.Prefix
	b, err := amqp.New(amqpCfg, cqrs.WatermillLogger(logger))
	if err != nil {
		return Bus{}, err
	}
	return Bus{
		Name:        "rabbitmq",
		Publisher:   b.Publisher(),
		Subscribers: draining(b.Subscriber, cfg.ShutdownTimeout),
		Declare:     func(_ context.Context, group, topic string) error { return b.Declare(group, topic) },
		Check: func(context.Context) error {
			if !b.Connected() {
				return errors.New("not connected")
			}
			return nil
		},
		Close:     b.Close,
		exclusive: true,
		backlog: func(ctx context.Context) (map[string]float64, error) {
			var queues []string
			for _, binding := range Topology(cfg.Topics) {
				queues = append(queues, binding.ConsumerGroup)
			}
			return b.Backlog(ctx, queues)
		},
	}, nil
}

func newStreamsBus(cfg Config, logger *slog.Logger, readFailed func(consumerGroup string, recreated bool)) (Bus, error) {
	streamsCfg := cfg.Streams
	streamsCfg.ReadFailed = readFailed
	// One blocking read per consumer group and partition of every service.
	streamsCfg.Subscriptions = len(Topology(cfg.Topics))
	s, err := redis.NewStreams(cfg.RedisURL, streamsCfg, cqrs.WatermillLogger(logger))
	if err != nil {
		return Bus{}, err
	}
	trimmer := s.NewTrimmer(cfg.Topics.Prefix, logger)
	return Bus{
		Name:        "redis",
		Publisher:   s.Publisher(),
		Subscribers: s.Subscriber,
		Declare:     s.Declare,
		takeOver:    s.TakeOver,
		Check:       s.Ping,
		Close:       s.Close,
		run: func(ctx context.Context) {
			var wg sync.WaitGroup
			wg.Go(func() { s.KeepHeld(ctx) })
			trimmer.Run(ctx, cfg.StreamTrimInterval)
			wg.Wait()
		},
		backlog: func(ctx context.Context) (map[string]float64, error) { return s.Backlog(ctx, cfg.Topics.Prefix) },
		// A failed read is retried every half second: a group not failing
		// for three seconds reads again.
		readFailures: func() map[string]string { return s.ReadFailures(3 * time.Second) },
	}, nil
}
