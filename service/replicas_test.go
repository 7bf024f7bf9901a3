//go:build faults

// Replicas of the services as processes of their own on the real servers:
// part of the fault suite (make test-faults), since it kills processes and
// starts a dozen of them.

package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"shop/infrastructure/amqp/amqptest"
	"shop/infrastructure/redis/redistest"
	"shop/ports/loadgen"
	"shop/service"
)

const (
	replicaCount      = 3
	replicaPartitions = 6 // two of each handler's partitions per replica
)

// Three replicas of every service start at the same moment against a fresh
// database, and all come up. Then the inventory replicas share the work: each
// handles a fair part of the messages, an aggregate's events are handled in
// order and never by two replicas at once, also across the moves when one
// replica is killed (kill -9) and when it comes back; no order is lost and
// none reserves twice.
//
// REPLICAS_BUSES picks the buses (default both).
func TestReplicasShareThePartitions(t *testing.T) {
	shopBin, ferretBin := benchBinaries(t)
	for _, bus := range strings.Split(envOr("REPLICAS_BUSES", service.BusAMQP+","+service.BusRedis), ",") {
		t.Run(bus, func(t *testing.T) { replicasShare(t, bus, shopBin, ferretBin) })
	}
}

func replicasShare(t *testing.T, bus, shopBin, ferretBin string) {
	redisURL := redistest.URL(t)
	amqpURL := ""
	if bus == service.BusAMQP {
		amqpURL = amqptest.URL(t)
	}
	rs, topics, env := newRealSystem(t, "replicas", bus, shopBin, ferretBin, amqpURL, redisURL, replicaPartitions)
	env["PARTITION_LEASE_TTL"] = "3s"
	// The killed replica's appends it had not yet published reach the bus
	// when a survivor's relay takes its origin over: after the sweep age,
	// 30 s by default, which the wait for the products view below would
	// barely cover. A product's later stock events wait for them.
	env["RELAY_SWEEP_AGE"] = "8s"
	env["RELAY_SWEEP_INTERVAL"] = "1s"
	env["LOG_LEVEL"] = "debug" // the "message handled" lines record who handled what, when
	var names []string
	for _, svc := range service.AllServices {
		for i := range replicaCount {
			names = append(names, replicaName(svc, i))
		}
	}
	for _, name := range names {
		rs.launchService(name, env)
	}
	for _, name := range names {
		rs.waitServing(name)
	}
	inventory := names[replicaCount : 2*replicaCount]
	owners := func() map[string][]int {
		out := map[string][]int{}
		for _, name := range inventory {
			if rs.down[name] {
				continue
			}
			var h struct {
				Partitions map[string][]int `json:"partitions"`
			}
			if rs.getJSON(rs.urls[name]+"/health", &h) {
				out[name] = h.Partitions[service.Inventory]
			}
		}
		return out
	}
	// Each live replica has its share, and together they have every
	// partition once.
	shared := func(live int) func() bool {
		return func() bool {
			var all []int
			o := owners()
			for _, ps := range o {
				if len(ps) != replicaPartitions/live {
					return false
				}
				all = append(all, ps...)
			}
			slices.Sort(all)
			return len(o) == live && slices.Equal(all, []int{0, 1, 2, 3, 4, 5})
		}
	}
	rs.waitFor("the partitions shared by three", shared(replicaCount))
	t.Logf("partitions: %v", owners())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	completions := rs.tap(ctx, bus, amqpURL, redisURL, topics)
	products := rs.seedProducts(60)
	load := func(orders int) loadgen.Result {
		t.Helper()
		res, err := loadgen.Run(ctx, loadgen.Config{
			OrdersURL: rs.urls[service.Orders], Orders: orders, Concurrency: 8, Products: products,
			Completions: completions, Timeout: 2 * time.Minute, Client: rs.client,
		})
		if err != nil {
			t.Fatalf("%v: %s", err, res)
		}
		return res
	}
	check := func(res loadgen.Result, reservedBefore int) {
		t.Helper()
		rs.settle(ctx)
		// A stock event that overtook its predecessor (two replicas' relays
		// publish one product's events) waits and comes back behind its
		// topic: the products view may take a moment more than the quiet
		// that settle waits for.
		want := reservedBefore + res.Confirmed
		waited := time.Now()
		for deadline := time.Now().Add(30 * time.Second); rs.reserved(products) != want && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		if d := time.Since(waited); d > time.Second {
			t.Logf("the products view settled %.1f s after the quiet", d.Seconds())
		}
		rs.check(res, products, reservedBefore)
	}

	// All three at work.
	reserved := rs.reserved(products)
	res := load(300)
	check(res, reserved)
	shares := handledBy(t, rs, inventory)
	total := 0
	for _, n := range shares {
		total += n
	}
	for _, name := range inventory {
		if pct := 100 * shares[name] / max(total, 1); pct < 20 || pct > 45 {
			t.Errorf("%s handled %d of %d messages (%d%%), want 20-45%%", name, shares[name], total, pct)
		}
	}
	t.Logf("messages handled: %v of %d", shares, total)

	// One killed mid-load: the survivors take its partitions over.
	reserved = rs.reserved(products)
	killed := inventory[replicaCount-1]
	done := make(chan loadgen.Result)
	go func() { done <- load(300) }()
	time.Sleep(2 * time.Second)
	rs.kill(killed)
	rs.waitFor("the partitions taken over", shared(replicaCount-1))
	t.Logf("after the kill: %v", owners())
	check(<-done, reserved)

	// Back again: it gets partitions back.
	rs.serve(killed)
	rs.waitFor("the partitions shared again", shared(replicaCount))
	t.Logf("after the return: %v", owners())
	reserved = rs.reserved(products)
	check(load(100), reserved)

	checkOrderKept(t, rs, inventory)
}

// handling is one "message handled" log line.
type handling struct {
	replica   string
	handler   string // without its partition
	aggregate string
	version   int
	started   time.Time
	ended     time.Time
}

// handlings reads the "message handled" lines of the replicas' logs.
func handlings(t *testing.T, rs *realSystem, replicas []string) []handling {
	t.Helper()
	var out []handling
	for _, name := range replicas {
		f, err := os.Open(filepath.Join(rs.logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg       string    `json:"msg"`
				Time      time.Time `json:"time"`
				Handler   string    `json:"handler"`
				Aggregate string    `json:"aggregate_id"`
				Version   string    `json:"aggregate_version"`
				Started   time.Time `json:"started"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "message handled" {
				continue
			}
			h := handling{replica: name, aggregate: line.Aggregate, started: line.Started, ended: line.Time}
			h.handler = line.Handler[:strings.LastIndex(line.Handler, ".")]
			if _, err := fmt.Sscan(line.Version, &h.version); err != nil {
				t.Fatalf("%s: version %q: %v", name, line.Version, err)
			}
			out = append(out, h)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// handledBy counts the messages each replica has handled so far.
func handledBy(t *testing.T, rs *realSystem, replicas []string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, h := range handlings(t, rs, replicas) {
		n[h.replica]++
	}
	return n
}

// checkOrderKept fails for an aggregate whose events a handler handled out
// of order, or on two replicas at once. A version handled twice is a copy
// (what a killed replica had not acknowledged, a relay's republishing),
// which the deduplication and the version guards make harmless; it is
// allowed, but the first handling of each version must come in order.
func checkOrderKept(t *testing.T, rs *realSystem, replicas []string) {
	t.Helper()
	byAggregate := map[string][]handling{}
	for _, h := range handlings(t, rs, replicas) {
		key := h.handler + " " + h.aggregate
		byAggregate[key] = append(byAggregate[key], h)
	}
	moved, bad := 0, 0
	for key, hs := range byAggregate {
		slices.SortFunc(hs, func(a, b handling) int { return a.started.Compare(b.started) })
		// The first handling of each version comes in version order; a
		// version handled again later is a copy (a redelivery, a sweep's
		// republishing, a requeued early copy) that the handler's
		// idempotence makes a no-op.
		seen := map[int]bool{hs[0].version: true}
		highest := hs[0]
		for i := 1; i < len(hs); i++ {
			prev, h := hs[i-1], hs[i]
			if h.replica != prev.replica {
				moved++
			}
			repeat := seen[h.version]
			seen[h.version] = true
			if h.version > highest.version {
				highest = h
			}
			switch {
			case !repeat && h.version < highest.version:
				bad++
				t.Errorf("%s: version %d (on %s) first handled after version %d (on %s)", key, h.version, h.replica, highest.version, highest.replica)
			case h.started.Before(prev.ended) && h.replica != prev.replica:
				bad++
				t.Errorf("%s: version %d on %s started at %s, before version %d on %s ended at %s",
					key, h.version, h.replica, h.started.Format(time.StampMicro), prev.version, prev.replica, prev.ended.Format(time.StampMicro))
			}
			if bad > 10 {
				t.Fatal("and more")
			}
		}
	}
	t.Logf("%d aggregates' handlings checked, %d handed from one replica to another", len(byAggregate), moved)
}
