// Package loadgen places orders through the HTTP API as fast as it is told to,
// and measures how long each takes to complete end to end: from the request
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
	// Orders is how many orders to place; Concurrency how many at a time.
	Orders      int
	Concurrency int
	// Products are the product ids orders take one unit of, in turn.
	Products []string
	// Completions reports finished orders (see Tap).
	Completions <-chan Completion
	// Timeout bounds the wait for the last completions.
	Timeout time.Duration
	Client  *http.Client
}

// Result is what a run measured.
type Result struct {
	Placed, Confirmed, Rejected, Failed, Incomplete int
	Elapsed                                         time.Duration
	// PerSecond is completed orders per second over the whole run.
	PerSecond float64
	// End to end latency percentiles, and of the POST alone.
	P50, P90, P99, Max time.Duration
	PostP50, PostP99   time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%d orders in %s: %.0f orders/s end to end (confirmed %d, rejected %d, failed %d, incomplete %d); latency p50 %s p90 %s p99 %s max %s; POST p50 %s p99 %s",
		r.Placed, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.Confirmed, r.Rejected, r.Failed, r.Incomplete,
		r.P50.Round(10*time.Microsecond), r.P90.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond),
		r.PostP50.Round(10*time.Microsecond), r.PostP99.Round(10*time.Microsecond))
}

// Run places cfg.Orders orders, cfg.Concurrency at a time: each worker is a
// customer who places an order and waits until it completed before placing the
// next, so the latencies are those of a system under load, not of a queue
// growing without bound.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Orders < 1 || cfg.Concurrency < 1 || len(cfg.Products) == 0 || cfg.Completions == nil || cfg.OrdersURL == "" {
		return Result{}, errors.New("loadgen: orders, concurrency, products, completions and the orders URL are required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxIdleConns: cfg.Concurrency}}
	}

	var (
		mu        sync.Mutex
		waiting   = map[string]chan Completion{}
		early     = map[string]Completion{} // completions seen before their POST returned
		latencies = make([]time.Duration, 0, cfg.Orders)
		posts     = make([]time.Duration, 0, cfg.Orders)
		result    Result
	)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case c, ok := <-cfg.Completions:
				if !ok {
					return
				}
				mu.Lock()
				if ch, ok := waiting[c.OrderID]; ok {
					delete(waiting, c.OrderID)
					ch <- c
				} else {
					early[c.OrderID] = c
				}
				mu.Unlock()
			}
		}
	}()

	begin := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			done := make(chan Completion, 1)
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Orders || ctx.Err() != nil {
					return
				}
				body := fmt.Sprintf(`{"customerId":"load-%d","items":[{"productId":%q,"productName":"Load","quantity":1,"unitPrice":9.99}]}`, i%1000, cfg.Products[i%len(cfg.Products)])
				t0 := time.Now()
				id, err := place(ctx, client, cfg.OrdersURL, body)
				took := time.Since(t0)
				mu.Lock()
				posts = append(posts, took)
				if err != nil {
					result.Failed++
					mu.Unlock()
					continue
				}
				result.Placed++
				if c, ok := early[id]; ok {
					delete(early, id)
					done <- c
				} else {
					waiting[id] = done
				}
				mu.Unlock()
				select {
				case c := <-done:
					mu.Lock()
					latencies = append(latencies, c.At.Sub(t0))
					if c.Confirmed {
						result.Confirmed++
					} else {
						result.Rejected++
					}
					mu.Unlock()
				case <-time.After(cfg.Timeout):
					mu.Lock()
					delete(waiting, id)
					result.Incomplete++
					mu.Unlock()
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	result.Elapsed = time.Since(begin)
	result.PerSecond = float64(result.Confirmed+result.Rejected) / result.Elapsed.Seconds()
	slices.Sort(latencies)
	slices.Sort(posts)
	result.P50, result.P90, result.P99, result.Max = pct(latencies, 50), pct(latencies, 90), pct(latencies, 99), pct(latencies, 100)
	result.PostP50, result.PostP99 = pct(posts, 50), pct(posts, 99)
	if result.Failed > 0 {
		return result, fmt.Errorf("%d orders could not be placed", result.Failed)
	}
	return result, nil
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
// whose confirmation or rejection was recorded as sent. sub must be a
// subscriber of its own consumer group, so that it sees every event.
func Tap(ctx context.Context, sub message.Subscriber, topics cqrs.Topics, marshaler cqrs.Marshaler) (<-chan Completion, error) {
	out := make(chan Completion, 4096)
	sentName := (&notification.Sent{}).EventName()
	for p := range topics.Partitions {
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
