//go:build restart

// Built with -tags restart, without the race detector: watermill-amqp
// reassigns ConnectionWrapper.connected unguarded when it reconnects, which
// the detector reports on every reconnect (a library race, not ours;
// ThreeDotsLabs/watermill#693).

package amqp

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"shop/app/fault"
	"shop/infrastructure/amqp/amqptest"
)

// cuttable forwards connections to RabbitMQ until cut, which closes them
// all as a broker that went away, or a network that failed, would.
type cuttable struct {
	listener net.Listener
	target   string
	addr     string

	mu    sync.Mutex
	conns []net.Conn
}

func newCuttable(t *testing.T, target string) *cuttable {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cuttable{listener: l, target: target, addr: l.Addr().String()}
	go c.accept()
	t.Cleanup(c.cut)
	return c
}

// restore forwards again, on the same address.
func (c *cuttable) restore(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.listener = l
	c.mu.Unlock()
	go c.accept()
}

func (c *cuttable) accept() {
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go func() { _, _ = io.Copy(in, out); in.Close() }()
	}
}

func (c *cuttable) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listener.Close()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// busBehindAProxy is a bus with a pool of two channels that reaches
// RabbitMQ through a proxy the test can cut, and a topic of its own.
func busBehindAProxy(t *testing.T) (*cuttable, *Bus, string) {
	t.Helper()
	uri, err := amqp091.ParseURI(amqptest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttable(t, net.JoinHostPort(uri.Host, "5672"))
	uri.Host, uri.Port = "127.0.0.1", proxy.listener.Addr().(*net.TCPAddr).Port
	prefix := "test-" + watermill.NewShortUUID() + "."
	bus, err := New(Config{URL: uri.String(), Prefetch: 10, ChannelPoolSize: 2, Confirms: true, QueuePrefix: prefix}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	topic := prefix + "events.order.0"
	t.Cleanup(func() { amqptest.DeleteQueues(t, amqptest.URL(t), nil, []string{topic}) })
	return proxy, bus, topic
}

// Publishing while RabbitMQ cannot be reached fails with transient errors,
// as the relay needs to keep its records for the next attempt; once the
// broker is back after a long outage, publishing resumes within seconds,
// where watermill-amqp's own reconnect waits would have grown to many.
func TestPublishingToABrokerThatWentAwayFailsTransientlyAndResumesSoonAfter(t *testing.T) {
	t.Parallel()
	proxy, bus, topic := busBehindAProxy(t)
	defer bus.Close()
	pub := bus.Publisher()
	if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	proxy.cut()
	// Publish once the bus knows it is cut off (the moment of the cut is
	// the next test's).
	for start := time.Now(); bus.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the bus did not notice it was cut off")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for failures := 0; failures < 3; {
		err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}")))
		if err == nil {
			if time.Now().After(deadline) {
				t.Fatal("publishing went on succeeding with the broker cut off")
			}
			continue
		}
		if !fault.IsTransient(err) {
			t.Fatalf("publish to a broker cut off: %v, want a transient failure", err)
		}
		failures++
	}
	time.Sleep(20 * time.Second) // the outage
	proxy.restore(t)
	back := time.Now()
	for {
		err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}")))
		if err == nil {
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatalf("publishing had not resumed %v after the broker came back: %v", time.Since(back), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Publishes under way as the connection is cut, and those in the moment
// before the bus notices, fail; none costs the pool its channel. With
// watermill-amqp v3.0.2's pool, a channel that failed to reopen was never
// put back, and once the pool was empty every publish waited for good.
func TestPublishesCaughtByACutLoseNoChannelOfThePool(t *testing.T) {
	t.Parallel()
	proxy, bus, topic := busBehindAProxy(t)
	pub := bus.Publisher()
	errHung := errors.New("a publish waited 10 s: the pool has lost its channels")
	publish := func() error {
		done := make(chan error, 1)
		go func() { done <- pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))) }()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errHung
		}
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	// Four publishers keep at it through three cuts, more failures than
	// the pool has channels.
	stop := make(chan struct{})
	var publishers sync.WaitGroup
	var failures atomic.Int64
	var hung atomic.Bool
	for range 4 {
		publishers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch err := publish(); {
				case errors.Is(err, errHung):
					hung.Store(true)
					return
				case err != nil:
					failures.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		proxy.cut()
		time.Sleep(300 * time.Millisecond)
		proxy.restore(t)
	}
	back := time.Now()
	for {
		err := publish()
		if err == nil {
			break
		}
		if errors.Is(err, errHung) || time.Since(back) > 10*time.Second {
			t.Fatalf("publishing had not resumed %v after the last cut: %v", time.Since(back), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	publishers.Wait()
	if hung.Load() {
		t.Fatal(errHung)
	}
	if failures.Load() < 3 {
		t.Fatalf("%d publishes failed through three cuts; the test did not catch any in the cut", failures.Load())
	}
	t.Logf("%d publishes failed through the cuts", failures.Load())
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}
