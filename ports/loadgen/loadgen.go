// Package loadgen places orders through the HTTP API, either as a number of
// customers who each wait for their order before placing the next (a closed
// loop) or at a fixed rate whatever the system does (an open loop), and
// measures how long each order takes to complete end to end: from the request
// until the customer's notification about the outcome is recorded, as seen on
// the bus.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/cqrs"
	"shop/domain/notification"
)

// Completion is an order that reached its final state, with its customer told.
type Completion struct {
	OrderID   string
	Confirmed bool
	At        time.Time
}

// Config says what load to generate.
type Config struct {
	// OrdersURL is the orders service, such as http://localhost:3001.
	OrdersURL string
	// Orders is how many orders to place. In an open loop it may be 0, and
	// Duration ends the placing instead.
	Orders int
	// Concurrency is how many customers place orders at a time in a closed
	// loop, each waiting for its order to complete before the next.
	Concurrency int
	// Rate, when positive, makes the loop open: orders are placed at this
	// many per second, on schedule, however many are still under way.
	Rate float64
	// Duration bounds how long an open loop places orders.
	Duration time.Duration
	// Products are the product ids orders take one unit of, in turn.
	Products []string
	// Completions reports finished orders (see Tap).
	Completions <-chan Completion
	// Timeout bounds the wait for each order's completion.
	Timeout time.Duration
	Client  *http.Client
	// Progress, when set, hears once a second how the run stands.
	Progress func(Progress)
}

// Progress is how far a run has come, and the latencies of the orders
// completed since the last report.
type Progress struct {
	Elapsed            time.Duration
	Placed, Completed  int
	Failed, Incomplete int
	InFlight           int
	// CompletedLastSecond, P99 and Max are of the orders completed since
	// the last report, a second ago.
	CompletedLastSecond int
	P99, Max            time.Duration
}

func (p Progress) String() string {
	return fmt.Sprintf("%5s placed %d, completed %d (%d in the last second, p99 %s, max %s), in flight %d, failed %d, incomplete %d",
		p.Elapsed.Round(time.Second), p.Placed, p.Completed, p.CompletedLastSecond, round(p.P99), round(p.Max), p.InFlight, p.Failed, p.Incomplete)
}

// Validate reports every setting that is missing or out of range.
func (c Config) Validate() error {
	var err error
	if c.OrdersURL == "" || c.Completions == nil || len(c.Products) == 0 {
		err = errors.Join(err, errors.New("loadgen: the orders URL, completions and products are required"))
	}
	switch {
	case c.Rate < 0:
		err = errors.Join(err, errors.New("loadgen: the rate must not be negative"))
	case c.Rate > 0:
		if c.Orders < 0 || c.Duration < 0 || (c.Orders == 0 && c.Duration == 0) {
			err = errors.Join(err, errors.New("loadgen: an open loop needs a number of orders or a duration"))
		}
	default:
		if c.Orders < 1 || c.Concurrency < 1 {
			err = errors.Join(err, errors.New("loadgen: a closed loop needs at least one order and one customer"))
		}
	}
	if c.Timeout < 0 {
		err = errors.Join(err, errors.New("loadgen: the timeout must not be negative"))
	}
	return err
}

// Result is what a run measured.
type Result struct {
	Placed, Confirmed, Rejected, Failed, Incomplete int
	Elapsed                                         time.Duration
	// PerSecond is completed orders per second over the whole run.
	PerSecond float64
	// End to end latency percentiles, and of the POST alone. In an open loop
	// both count from when the order was due, so that a system that falls
	// behind shows it in its latencies.
	P50, P90, P99, Max time.Duration
	PostP50, PostP99   time.Duration
	// Last are the ids of the last orders placed, newest last.
	Last []string
}

func (r Result) String() string {
	return fmt.Sprintf("%d orders in %s: %.1f orders/s end to end (confirmed %d, rejected %d, failed %d, incomplete %d); latency p50 %s p90 %s p99 %s max %s; POST p50 %s p99 %s",
		r.Placed, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.Confirmed, r.Rejected, r.Failed, r.Incomplete,
		round(r.P50), round(r.P90), round(r.P99), round(r.Max), round(r.PostP50), round(r.PostP99))
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// lastKept is how many of the last placed orders a Result names.
const lastKept = 20

// Run places the orders and waits for each to complete or time out.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Client == nil {
		conns := max(cfg.Concurrency, 256)
		cfg.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxIdleConns: conns}}
	}
	r := &run{cfg: cfg, waiting: map[string]chan Completion{}, early: map[string]Completion{}, finished: map[string]bool{}}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go r.dispatch(runCtx)

	r.begin = time.Now()
	if cfg.Progress != nil {
		go r.report(runCtx)
	}
	if cfg.Rate > 0 {
		r.open(ctx)
	} else {
		r.closed(ctx)
	}
	return r.result()
}

type run struct {
	cfg   Config
	begin time.Time

	mu        sync.Mutex
	waiting   map[string]chan Completion
	early     map[string]Completion // completions seen before their POST returned
	finished  map[string]bool       // orders whose completion came; a repeat is dropped
	latencies []time.Duration
	posts     []time.Duration
	last      []string
	res       Result
	inFlight  int
}

// dispatch hands each completion to the order waiting for it.
func (r *run) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-r.cfg.Completions:
			if !ok {
				return
			}
			r.mu.Lock()
			switch ch, ok := r.waiting[c.OrderID]; {
			case r.finished[c.OrderID]:
				// The same event published again (a relay's retry, a
				// redelivery): the order was counted once.
			case ok:
				delete(r.waiting, c.OrderID)
				r.finished[c.OrderID] = true
				ch <- c
			default:
				r.early[c.OrderID] = c
			}
			r.mu.Unlock()
		}
	}
}

func (r *run) report(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	before := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		done := r.res.Confirmed + r.res.Rejected
		recent := slices.Clone(r.latencies[min(before, len(r.latencies)):])
		p := Progress{
			Elapsed: time.Since(r.begin), Placed: r.res.Placed, Completed: done, Failed: r.res.Failed,
			Incomplete: r.res.Incomplete, InFlight: r.inFlight, CompletedLastSecond: len(recent),
		}
		before = len(r.latencies)
		r.mu.Unlock()
		slices.Sort(recent)
		p.P99, p.Max = pct(recent, 99), pct(recent, 100)
		r.cfg.Progress(p)
	}
}

// closed runs Concurrency customers, each placing an order and waiting until
// it completed before placing the next, so the latencies are those of a
// system under load, not of a queue growing without bound.
func (r *run) closed(ctx context.Context) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			done := make(chan Completion, 1)
			for {
				i := int(next.Add(1)) - 1
				if i >= r.cfg.Orders || ctx.Err() != nil {
					return
				}
				r.order(ctx, i, time.Now(), done)
			}
		})
	}
	wg.Wait()
}

// open places orders on a fixed schedule: the i-th is due at i/Rate seconds,
// and each one's latency counts from when it was due, so that a system that
// cannot keep up is not hidden by a load generator that waits for it.
func (r *run) open(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		due := r.begin.Add(time.Duration(i) * interval)
		if (r.cfg.Orders > 0 && i >= r.cfg.Orders) || (r.cfg.Duration > 0 && due.Sub(r.begin) >= r.cfg.Duration) {
			break
		}
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				wg.Wait()
				return
			case <-t.C:
			}
		}
		wg.Go(func() { r.order(ctx, i, due, make(chan Completion, 1)) })
	}
	wg.Wait()
}

// order places the i-th order, due at due, and waits for its completion.
func (r *run) order(ctx context.Context, i int, due time.Time, done chan Completion) {
	// An e-mail address, as a customer's order has: its notifications
	// take the path of personal data, sealed and opened.
	body := fmt.Sprintf(`{"customerId":"load-%d","contact":{"email":"load-%d@example.com"},"items":[{"productId":%q,"productName":"Load","quantity":1,"unitPrice":9.99}]}`,
		i%1000, i%1000, r.cfg.Products[i%len(r.cfg.Products)])
	r.mu.Lock()
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	id, err := place(ctx, r.cfg.Client, r.cfg.OrdersURL, body)
	took := time.Since(due)
	r.mu.Lock()
	r.posts = append(r.posts, took)
	if err != nil {
		r.res.Failed++
		r.mu.Unlock()
		return
	}
	r.res.Placed++
	r.last = append(r.last, id)
	if len(r.last) > 2*lastKept {
		r.last = append(r.last[:0], r.last[len(r.last)-lastKept:]...)
	}
	if c, ok := r.early[id]; ok {
		delete(r.early, id)
		r.finished[id] = true
		done <- c
	} else {
		r.waiting[id] = done
	}
	r.mu.Unlock()
	t := time.NewTimer(r.cfg.Timeout)
	defer t.Stop()
	select {
	case c := <-done:
		r.mu.Lock()
		r.latencies = append(r.latencies, c.At.Sub(due))
		if c.Confirmed {
			r.res.Confirmed++
		} else {
			r.res.Rejected++
		}
		r.mu.Unlock()
	case <-t.C:
		r.mu.Lock()
		delete(r.waiting, id)
		r.res.Incomplete++
		r.mu.Unlock()
	case <-ctx.Done():
	}
}

func (r *run) result() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Elapsed = time.Since(r.begin)
	res.PerSecond = float64(res.Confirmed+res.Rejected) / res.Elapsed.Seconds()
	slices.Sort(r.latencies)
	slices.Sort(r.posts)
	res.P50, res.P90, res.P99, res.Max = pct(r.latencies, 50), pct(r.latencies, 90), pct(r.latencies, 99), pct(r.latencies, 100)
	res.PostP50, res.PostP99 = pct(r.posts, 50), pct(r.posts, 99)
	res.Last = slices.Clone(r.last[max(0, len(r.last)-lastKept):])
	if res.Failed > 0 {
		return res, fmt.Errorf("%d orders could not be placed", res.Failed)
	}
	return res, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func place(ctx context.Context, client *http.Client, url, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/orders", bytes.NewReader([]byte(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /orders: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Order struct {
			ID string `json:"id"`
		} `json:"order"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", err
	}
	return out.Order.ID, nil
}

// Tap watches the notifications' events on the bus and reports each order
// whose confirmation or rejection was recorded as sent. subscriber(p) gives
// the subscriber of partition p's topic, of a consumer group of its own (so
// that it sees every event) and one per partition, as a consumer group takes
// one topic on RabbitMQ.
func Tap(ctx context.Context, subscriber func(partition int) (message.Subscriber, error), topics cqrs.Topics, marshaler cqrs.Marshaler) (<-chan Completion, error) {
	out := make(chan Completion, 4096)
	sentName := (&notification.Sent{}).EventName()
	for p := range topics.Partitions {
		sub, err := subscriber(p)
		if err != nil {
			return nil, err
		}
		msgs, err := sub.Subscribe(ctx, topics.Events(notification.AggregateType, p))
		if err != nil {
			return nil, err
		}
		go func() {
			for msg := range msgs {
				at := time.Now()
				if marshaler.NameFromMessage(msg) == sentName {
					var e notification.Sent
					if err := marshaler.Unmarshal(msg, &e); err == nil {
						switch e.Kind {
						case notification.KindOrderConfirmed, notification.KindOrderRejected:
							select {
							case out <- Completion{OrderID: e.OrderID, Confirmed: e.Kind == notification.KindOrderConfirmed, At: at}:
							case <-ctx.Done():
							}
						}
					}
				}
				msg.Ack()
			}
		}()
	}
	return out, nil
}
