package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"shop/app/operations"
	"shop/service"
)

// A stop under load, as every rolling deployment makes, loses no accepted
// order and sets nothing aside: the attempts under way finish, and what the
// stopped deployment did not reach waits in the broker and the event store
// for the next one.
func TestAStopUnderLoadLosesNothingAndPoisonsNothing(t *testing.T) {
	forBackends(t, func(be backend) bool { return be.mongo }, func(t *testing.T, be backend) {
		first := startShop(t, be, withConfig(func(c *service.Config) {
			// Short deliveries, so that the stop drains what is in flight
			// within the test's waits.
			c.Router.MaxRetries = 1
			c.Router.HandlerTimeout = 2 * time.Second
			c.Breaker.CallTimeout = time.Second
			c.RelaySweepAge = 500 * time.Millisecond
		}))
		first.addProduct("p", 10_000)

		var mu sync.Mutex
		var accepted []string
		unknown := 0 // requests whose outcome the customer did not learn
		var customers sync.WaitGroup
		enough := make(chan struct{})
		var enoughOnce sync.Once
		for c := range 8 {
			customers.Add(1)
			go func() {
				defer customers.Done()
				for i := 0; ; i++ {
					id, outcome := placeOrderUnchecked(first, fmt.Sprintf("customer-%d-%d", c, i))
					if outcome != placed {
						if outcome == unanswered {
							mu.Lock()
							unknown++
							mu.Unlock()
						}
						return // the orders service has stopped taking requests
					}
					mu.Lock()
					accepted = append(accepted, id)
					if len(accepted) == 40 {
						enoughOnce.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			}()
		}
		<-enough
		first.stop()
		customers.Wait()

		second := startShop(t, be, sameNamesAs(first))
		for _, id := range accepted {
			second.waitOrder(id, "CONFIRMED")
		}
		// Every accepted order, and perhaps those whose answer was lost,
		// holds its unit; nothing else does.
		var available, reserved int
		if !eventually(30*time.Second, func() bool {
			available, reserved, _ = second.findProduct("p")
			return available+reserved == 10_000 && reserved >= len(accepted) && reserved <= len(accepted)+unknown
		}) {
			t.Fatalf("product p: %d available, %d reserved for %d accepted orders and %d unanswered", available, reserved, len(accepted), unknown)
		}
		dead, err := second.system(service.Orders).Operations().DeadLetters(context.Background(), operations.DeadLetterFilter{})
		if err != nil || len(dead) != 0 {
			t.Fatalf("%d dead letters after the stop: %+v %v", len(dead), dead, err)
		}
		t.Logf("%d orders accepted across the stop", len(accepted))
	})
}

type outcome int

const (
	placed     outcome = iota
	refused            // the service took no request: nothing happened
	unanswered         // the order may or may not have been placed
)

// placeOrderUnchecked places an order of one unit of p, telling a stopped
// service from a failure.
func placeOrderUnchecked(s *shop, customer string) (string, outcome) {
	body, _ := json.Marshal(orderBody(customer, item{"p", 1, "1.00"}))
	resp, err := s.client.Post(s.urls[service.Orders]+"/orders", "application/json", bytes.NewReader(body))
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "", refused
	}
	if err != nil {
		return "", unanswered
	}
	defer resp.Body.Close()
	var created struct {
		Order struct {
			ID string `json:"id"`
		} `json:"order"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&created) != nil {
		return "", unanswered
	}
	return created.Order.ID, placed
}
