package amqp

import (
	"errors"
	"fmt"
	"sync"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// publisher publishes each message to its topic's exchange over a pool of
// channels, with watermill-amqp's configuration (exchange names, topology,
// marshaler) and connection.
//
// Written here because watermill-amqp v3.0.2's channel pool loses a channel
// every time reopening one fails: its Channel returns the error and never
// puts the channel back, so that after enough broker restarts every publish
// waits for good for a channel that will never come; and its Close then
// dereferences the channel that failed to open (a panic at shutdown, seen
// after a RabbitMQ restart). Here a channel goes back to the pool whatever
// happened to it, and one found closed is opened again when next taken.
type publisher struct {
	conn     *wamqp.ConnectionWrapper
	cfg      wamqp.Config
	confirms bool
	// pool holds the channels; with no pool (size 0) each publish opens
	// one and closes it after.
	pool chan *pooledChannel

	mu       sync.Mutex
	closed   bool
	declared map[string]bool
}

// pooledChannel is a channel of the pool, open or not (nil, or closed by
// the broker or with its connection).
type pooledChannel struct{ ch *amqp091.Channel }

func newPublisher(conn *wamqp.ConnectionWrapper, cfg wamqp.Config, poolSize int, confirms bool) *publisher {
	p := &publisher{conn: conn, cfg: cfg, confirms: confirms, pool: make(chan *pooledChannel, poolSize), declared: map[string]bool{}}
	for range poolSize {
		p.pool <- &pooledChannel{}
	}
	return p
}

var errPublisherClosed = errors.New("rabbitmq publisher closed")

// Publish publishes msgs to topic's exchange and, with confirms, returns once
// RabbitMQ has every one of them.
func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.isClosed() {
		return errPublisherClosed
	}
	if !p.conn.IsConnected() {
		return errors.New("not connected to AMQP")
	}
	pc := p.take()
	defer p.give(pc)
	if err := p.open(pc); err != nil {
		return err
	}
	exchange := p.cfg.Exchange.GenerateName(topic)
	if err := p.declare(pc.ch, exchange); err != nil {
		return err
	}
	routingKey := p.cfg.Publish.GenerateRoutingKey(topic)
	confirmations := make([]*amqp091.DeferredConfirmation, 0, len(msgs))
	for _, msg := range msgs {
		publishing, err := p.cfg.Marshaler.Marshal(msg)
		if err != nil {
			return fmt.Errorf("marshal message %s: %w", msg.UUID, err)
		}
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(msg.Context(), exchange, routingKey, p.cfg.Publish.Mandatory, p.cfg.Publish.Immediate, publishing)
		if err != nil {
			if pc.ch.IsClosed() {
				p.forget(exchange)
			}
			return fmt.Errorf("publish message %s: %w", msg.UUID, err)
		}
		confirmations = append(confirmations, dc)
	}
	if !p.confirms {
		return nil
	}
	// Every message is sent before the first confirmation is waited for.
	for i, dc := range confirmations {
		ok, err := dc.WaitContext(msgs[i].Context())
		if err != nil {
			return fmt.Errorf("message %s: %w", msgs[i].UUID, err)
		}
		if !ok {
			// A nack, or the channel closed before the confirmation.
			if pc.ch.IsClosed() {
				p.forget(exchange)
			}
			return fmt.Errorf("message %s: delivery not confirmed", msgs[i].UUID)
		}
	}
	return nil
}

func (p *publisher) take() *pooledChannel {
	if cap(p.pool) == 0 {
		return &pooledChannel{}
	}
	return <-p.pool
}

// give puts pc back into the pool, its channel closed when there is no pool
// or the publisher closed meanwhile.
func (p *publisher) give(pc *pooledChannel) {
	if p.isClosed() || cap(p.pool) == 0 {
		if pc.ch != nil {
			_ = pc.ch.Close()
		}
		pc = &pooledChannel{}
	}
	if cap(p.pool) > 0 {
		p.pool <- pc
	}
}

// open opens pc's channel unless it is open; a channel that cannot be
// opened is left closed, to be opened by the next publish that takes it.
func (p *publisher) open(pc *pooledChannel) error {
	if pc.ch != nil && !pc.ch.IsClosed() {
		return nil
	}
	pc.ch = nil
	conn := p.conn.Connection()
	if conn == nil {
		return errors.New("not connected to AMQP")
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if p.confirms {
		if err := ch.Confirm(false); err != nil {
			_ = ch.Close()
			return fmt.Errorf("put a channel in confirm mode: %w", err)
		}
	}
	pc.ch = ch
	return nil
}

// declare declares exchange once.
func (p *publisher) declare(ch *amqp091.Channel, exchange string) error {
	p.mu.Lock()
	done := p.declared[exchange]
	p.mu.Unlock()
	if done || exchange == "" {
		return nil
	}
	if err := p.cfg.TopologyBuilder.ExchangeDeclare(ch, exchange, p.cfg); err != nil {
		return fmt.Errorf("declare exchange %s: %w", exchange, err)
	}
	p.mu.Lock()
	p.declared[exchange] = true
	p.mu.Unlock()
	return nil
}

// forget makes the next publish declare exchange again: a channel that the
// broker closed may have met an exchange missing since the broker lost its
// data, and declaring an exchange that exists costs one round trip.
func (p *publisher) forget(exchange string) {
	p.mu.Lock()
	delete(p.declared, exchange)
	p.mu.Unlock()
}

func (p *publisher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close closes the channels in the pool; those of publishes under way close
// as those end.
func (p *publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	for range len(p.pool) {
		select {
		case pc := <-p.pool:
			if pc.ch != nil {
				_ = pc.ch.Close()
			}
		default:
		}
	}
	return nil
}
