//go:build faults

// The fault suite: the three services as processes of their own (the shop
// binary) on the real servers, ten orders a second with an Idempotency-Key
// each, and one fault a few seconds in, on a fresh system per fault. It
// stops and starts the RabbitMQ every test shares, so it runs on its own
// and without the race detector: make test-faults (also part of make test).
// FAULTS_SHOP runs it on another build of the shop binary; FAULTS_RUN picks
// faults by name (a regular expression).

package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/cqrs"
	"shop/infrastructure/amqp/amqptest"
	"shop/infrastructure/redis/redistest"
	"shop/service"
)

const (
	faultLoadRate     = 10 // orders a second
	faultLoadDuration = 24 * time.Second
	faultAt           = 6 * time.Second
	// faultGrace is how long after a fault ends a POST may still fail.
	faultGrace = 2 * time.Second
	// scarceStock is the stock of the product every tenth order asks for:
	// some of those orders are rejected, so that both decisions are tried.
	scarceStock = 8
)

// faultCase is one fault the system must come through.
type faultCase struct {
	name string
	bus  string
	// ownRedis gives the run a redis-server of its own, which the fault
	// may kill, for the bus and the idempotency keys.
	ownRedis bool
	// inject makes the fault happen and returns once what it broke answers
	// again.
	inject func(t *testing.T, f *faultRun)
	// unhealthy are the services whose /health must say so while the fault
	// lasts.
	unhealthy []string
	// lossy faults lose messages the relay already published: the operator
	// republishes them, as the README says, once the fault is over.
	lossy bool
	// busy keeps every core busy beside the system while it runs: calls slow
	// down, and many are in flight when a server comes back.
	busy bool
}

func TestTheSystemComesThroughFaults(t *testing.T) {
	shopBin, ferretBin := benchBinaries(t)
	if path := os.Getenv("FAULTS_SHOP"); path != "" {
		shopBin = path
	}
	pick := regexp.MustCompile(os.Getenv("FAULTS_RUN"))
	kill := func(name string) func(t *testing.T, f *faultRun) {
		return func(t *testing.T, f *faultRun) {
			f.rs.kill(name)
			time.Sleep(2 * time.Second)
			f.rs.serve(name)
		}
	}
	mongoOutage := func(t *testing.T, f *faultRun) {
		_ = f.rs.ferretdb.Process.Kill()
		_, _ = f.rs.ferretdb.Process.Wait()
		time.Sleep(10 * time.Second)
		f.rs.serveFerretDB()
	}
	faults := []faultCase{
		{name: "rabbitmq stopped 10s", bus: service.BusAMQP, unhealthy: service.AllServices, inject: func(t *testing.T, f *faultRun) {
			restarted := false
			t.Cleanup(func() {
				if !restarted { // never leave the broker stopped
					_ = exec.Command("rabbitmqctl", "start_app").Run()
				}
			})
			rabbitmqctl(t, "stop_app")
			time.Sleep(10 * time.Second)
			rabbitmqctl(t, "start_app")
			rabbitmqctl(t, "await_startup")
			restarted = true
		}},
		{name: "mongodb killed 10s", bus: service.BusAMQP, unhealthy: service.AllServices, inject: mongoOutage},
		{name: "mongodb killed 10s, cores busy", bus: service.BusAMQP, busy: true, unhealthy: service.AllServices, inject: mongoOutage},
		{name: "redis restarted with its data", bus: service.BusRedis, ownRedis: true, unhealthy: service.AllServices, inject: func(t *testing.T, f *faultRun) {
			f.redis.Kill()
			time.Sleep(5 * time.Second)
			f.redis.Start()
		}},
		{name: "redis restarted without its data", bus: service.BusRedis, ownRedis: true, unhealthy: service.AllServices, lossy: true, inject: func(t *testing.T, f *faultRun) {
			f.redis.Kill()
			f.redis.Forget()
			time.Sleep(5 * time.Second)
			f.redis.Start()
		}},
		{name: "orders killed", bus: service.BusAMQP, inject: kill(service.Orders)},
		{name: "inventory killed", bus: service.BusAMQP, inject: kill(service.Inventory)},
		{name: "notifications killed", bus: service.BusAMQP, inject: kill(service.Notifications)},
		{name: "inventory killed on redis streams", bus: service.BusRedis, ownRedis: true, inject: kill(service.Inventory)},
	}
	var table []string
	t.Cleanup(func() {
		fmt.Printf("\n%-34s %8s %8s %6s %5s %7s %5s %8s %8s\n", "fault", "accepted", "errors", "late", "lost", "doubled", "stuck", "settled", "health")
		for _, row := range table {
			fmt.Println(row)
		}
	})
	for _, f := range faults {
		if !pick.MatchString(f.name) {
			continue
		}
		t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) {
			table = append(table, runFault(t, f, shopBin, ferretBin))
		})
	}
}

// faultRun is one fault's system and what its clients saw.
type faultRun struct {
	rs       *realSystem
	redis    *redistest.Server
	products map[string]int // initial stock

	mu      sync.Mutex
	orders  []*faultOrder
	health  []healthSample
	started time.Time
	// the fault's window: from its start until what it broke answered again
	from, until time.Time
}

type faultOrder struct {
	key, product string
	id           string
	accepted     time.Time
	final        time.Time // seen decided and notified
	status       string
	errors       []time.Time
	err          string // why it was never accepted
}

type healthSample struct {
	at      time.Time
	service string
	status  string
}

func runFault(t *testing.T, f faultCase, shopBin, ferretBin string) string {
	run := &faultRun{}
	redisURL := redistest.URL(t)
	if f.ownRedis {
		run.redis = redistest.StartServer(t)
		redisURL = run.redis.URL()
	}
	amqpURL := ""
	if f.bus == service.BusAMQP {
		amqpURL = amqptest.URL(t)
	}
	run.rs, _ = startRealSystem(t, "fault", f.bus, shopBin, ferretBin, amqpURL, redisURL, 0)
	run.seed(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if f.busy {
		for range 2 * runtime.NumCPU() {
			go spin(ctx)
		}
	}
	var watching sync.WaitGroup
	watching.Go(func() { run.watchHealth(ctx) })
	watching.Go(func() { run.watchOrders(ctx) })
	run.started = time.Now()
	// The load on a goroutine of its own, the fault on the test's, where
	// the fault's helpers may stop the test.
	var placing sync.WaitGroup
	placing.Go(func() { run.place(t) })
	time.Sleep(faultAt)
	run.mu.Lock()
	run.from = time.Now()
	run.mu.Unlock()
	f.inject(t, run)
	run.mu.Lock()
	run.until = time.Now()
	run.mu.Unlock()
	placing.Wait()
	if f.lossy {
		run.republish(t)
	}
	t.Logf("load placed, %v in", time.Since(run.started).Round(time.Second))
	settled, stuck := run.waitFinal(t)
	t.Logf("orders final, %v in", time.Since(run.started).Round(time.Second))
	// A last look at health once everything settled.
	time.Sleep(time.Second)
	cancel()
	watching.Wait()

	accepted, late, lost := 0, 0, 0
	errs := 0
	for _, o := range run.orders {
		errs += len(o.errors)
		for _, at := range o.errors {
			if at.After(run.until.Add(faultGrace)) {
				late++
			}
		}
		if o.id == "" {
			lost++
			t.Errorf("order %s never accepted: %s", o.key, o.err)
			continue
		}
		accepted++
	}
	if late > 0 {
		t.Errorf("%d POSTs failed later than %v after the fault ended", late, faultGrace)
	}
	doubled := run.doubled(t)
	if stuck > 0 {
		t.Errorf("%d accepted orders were not decided and notified %v after the load", stuck, 3*time.Minute)
	}
	health := run.checkHealth(t, f)
	if n := run.deadLetters(t); n > 0 {
		t.Errorf("%d dead letters", n)
	}
	t.Logf("checked, %v in", time.Since(run.started).Round(time.Second))
	return fmt.Sprintf("%-34s %8d %8d %6d %5d %7d %5d %8s %8s", f.name, accepted, errs, late, lost, doubled, stuck,
		settled.Round(100*time.Millisecond), health)
}

// spin keeps a core busy until ctx is done.
func spin(ctx context.Context) {
	for n := 0; ctx.Err() == nil; n++ {
		for range 1 << 16 {
			n ^= n << 1
		}
	}
}

// seed adds the products, and waits until the products view has them.
func (f *faultRun) seed(t *testing.T) {
	f.products = map[string]int{"plenty-1": 1_000_000, "plenty-2": 1_000_000, "plenty-3": 1_000_000, "scarce": scarceStock}
	for id, stock := range f.products {
		body := fmt.Sprintf(`{"productId":%q,"name":%q,"stock":%d}`, id, id, stock)
		resp, err := f.rs.client.Post(f.rs.urls[service.Inventory]+"/products", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("add product %s: %d %s", id, resp.StatusCode, raw)
		}
	}
	ids := slices.Collect(maps.Keys(f.products))
	f.rs.waitFor("products view", func() bool { return f.rs.reserved(ids) >= 0 })
}

// place places orders at faultLoadRate for faultLoadDuration, each as a
// careful client would: its Idempotency-Key on every attempt, and, after a
// 5xx or no answer, the same request again a quarter second later, for up to
// two minutes.
func (f *faultRun) place(t *testing.T) {
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / faultLoadRate)
	defer tick.Stop()
	plenty := []string{"plenty-1", "plenty-2", "plenty-3"}
	for i := 0; time.Since(f.started) < faultLoadDuration; i++ {
		<-tick.C
		o := &faultOrder{key: fmt.Sprintf("%s-%d", f.rs.run, i), product: plenty[i%3]}
		if i%10 == 0 {
			o.product = "scarce"
		}
		f.mu.Lock()
		f.orders = append(f.orders, o)
		f.mu.Unlock()
		wg.Go(func() { f.placeOne(t, client, o) })
	}
	wg.Wait()
}

func (f *faultRun) placeOne(t *testing.T, client *http.Client, o *faultOrder) {
	body := fmt.Sprintf(`{"customerId":"c-%s","items":[{"productId":%q,"productName":"P","quantity":1,"unitPrice":10}],"contact":{"email":"c@example.com"}}`, o.key, o.product)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPost, f.rs.urls[service.Orders]+"/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", o.key)
		resp, err := client.Do(req)
		if err == nil {
			var answer struct {
				Order struct {
					ID string `json:"id"`
				} `json:"order"`
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
				if json.Unmarshal(raw, &answer) != nil || answer.Order.ID == "" {
					t.Errorf("order %s: %d %s", o.key, resp.StatusCode, raw)
				}
				f.mu.Lock()
				o.id, o.accepted = answer.Order.ID, time.Now()
				f.mu.Unlock()
				return
			case resp.StatusCode < 500:
				f.mu.Lock()
				o.err = fmt.Sprintf("%d %s", resp.StatusCode, raw)
				f.mu.Unlock()
				t.Errorf("order %s refused: %d %s", o.key, resp.StatusCode, raw)
				return
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, raw)
		}
		f.mu.Lock()
		o.errors = append(o.errors, time.Now())
		o.err = err.Error()
		f.mu.Unlock()
		time.Sleep(250 * time.Millisecond)
	}
}

// watchHealth asks every service's /health four times a second.
func (f *faultRun) watchHealth(ctx context.Context) {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// All at once, so that a service slow to answer does not keep the
		// others from being asked.
		var wg sync.WaitGroup
		for _, name := range service.AllServices {
			wg.Go(func() {
				status := "unreachable"
				if resp, err := client.Get(f.rs.urls[name] + "/health"); err == nil {
					var body struct {
						Status string `json:"status"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					status = body.Status
				}
				f.mu.Lock()
				f.health = append(f.health, healthSample{at: time.Now(), service: name, status: status})
				f.mu.Unlock()
			})
		}
		wg.Wait()
	}
}

// checkHealth asserts that /health told the fault while it lasted, on the
// services it touched, and said healthy everywhere from a few seconds after
// it ended.
func (f *faultRun) checkHealth(t *testing.T, fl faultCase) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	told := map[string]bool{}
	wrongAfter := 0
	for _, s := range f.health {
		if s.at.After(f.from) && s.at.Before(f.until) && s.status != "healthy" {
			told[s.service] = true
		}
		if s.at.After(f.until.Add(5*time.Second)) && s.status != "healthy" {
			wrongAfter++
			if wrongAfter <= 3 {
				t.Errorf("%s /health %q at %v after the fault ended", s.service, s.status, s.at.Sub(f.until).Round(time.Millisecond))
			}
		}
	}
	for _, name := range fl.unhealthy {
		if !told[name] {
			t.Errorf("%s /health said healthy throughout the fault", name)
		}
	}
	if wrongAfter > 0 || len(told) < len(fl.unhealthy) {
		return "wrong"
	}
	return "truthful"
}

// republish is the operator's answer to a bus that lost what it held: the
// events stored since shortly before the fault are published again.
func (f *faultRun) republish(t *testing.T) {
	since := f.from.Add(-30 * time.Second).UTC().Format(time.RFC3339)
	cmd := exec.Command(f.rs.bin, "replay", "--start-date", since)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range f.rs.envs[service.Orders] {
		if k != "PORT" && k != "REDIS_CONSUMER_NAME" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, "REDIS_CONSUMER_NAME=operator")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shop replay --start-date %s: %v\n%s", since, err, out)
	}
}

// watchOrders follows every accepted order until it is decided in the
// orders view and has its two notifications, noting when it was seen so,
// until ctx is done.
func (f *faultRun) watchOrders(ctx context.Context) {
	for ctx.Err() == nil {
		f.mu.Lock()
		var open []*faultOrder
		for _, o := range f.orders {
			if o.id != "" && o.final.IsZero() {
				open = append(open, o)
			}
		}
		f.mu.Unlock()
		for _, o := range open {
			var got struct {
				Order struct {
					Status string `json:"status"`
				} `json:"order"`
			}
			var notes struct {
				Notifications []struct{} `json:"notifications"`
			}
			if !f.rs.getJSON(f.rs.urls[service.Orders]+"/orders/"+o.id, &got) ||
				(got.Order.Status != "CONFIRMED" && got.Order.Status != "REJECTED") ||
				!f.rs.getJSON(f.rs.urls[service.Notifications]+"/notifications?orderId="+o.id, &notes) || len(notes.Notifications) < 2 {
				continue
			}
			f.mu.Lock()
			o.final, o.status = time.Now(), got.Order.Status
			f.mu.Unlock()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitFinal waits until every accepted order is final (see watchOrders) and
// the stock shows every confirmed order reserved once, for up to three
// minutes. It returns how long after the fault ended the last order
// accepted by then was final, and how many orders were not.
func (f *faultRun) waitFinal(t *testing.T) (time.Duration, int) {
	deadline := time.Now().Add(3 * time.Minute)
	open := func() (n int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, o := range f.orders {
			if o.id != "" && o.final.IsZero() {
				n++
			}
		}
		return n
	}
	for open() > 0 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	f.mu.Lock()
	confirmed := map[string]int{}
	var settled time.Duration
	for _, o := range f.orders {
		if o.status == "CONFIRMED" {
			confirmed[o.product]++
		}
		if !o.accepted.IsZero() && o.accepted.Before(f.until) && !o.final.IsZero() {
			settled = max(settled, o.final.Sub(f.until))
		}
	}
	f.mu.Unlock()
	// Stock is conserved, and reserved exactly once per confirmed order.
	conserved := func() bool {
		for id, stock := range f.products {
			var p struct {
				Product struct {
					Available int `json:"available"`
					Reserved  int `json:"reserved"`
				} `json:"product"`
			}
			if !f.rs.getJSON(f.rs.urls[service.Inventory]+"/products/"+id, &p) ||
				p.Product.Reserved != confirmed[id] || p.Product.Available+p.Product.Reserved != stock {
				return false
			}
		}
		return true
	}
	for !conserved() && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	if !conserved() {
		t.Errorf("the stock does not show the %v confirmed orders reserved once, of the stock %v", confirmed, f.products)
	}
	return settled, open()
}

// doubled counts, in the event stores, the decisions, reservations and
// notifications recorded more than once.
func (f *faultRun) doubled(t *testing.T) int {
	ctx, c := f.mongo(t)
	count := map[string]int{}
	for _, svc := range service.AllServices {
		cur, err := c.Database(f.rs.run+"_"+svc).Collection("events").Find(ctx, bson.D{{Key: "type", Value: bson.D{{Key: "$in", Value: bson.A{
			"order.confirmed", "order.rejected", "inventory.stock_reserved", "inventory.reservation_confirmed",
			"inventory.reservation_rejected", "notification.sent"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		var events []struct {
			AggregateID string `bson:"aggregateId"`
			Type        string `bson:"type"`
			Data        bson.M `bson:"data"`
		}
		if err := cur.All(ctx, &events); err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			what := e.Type + " " + e.AggregateID
			switch e.Type {
			case "order.confirmed", "order.rejected":
				what = "decision " + e.AggregateID
			case "inventory.stock_reserved":
				what += " " + field(e.Data, "orderid")
			case "notification.sent":
				what += " " + field(e.Data, "kind") + " " + field(e.Data, "channel")
			}
			count[what]++
		}
	}
	doubled := 0
	for what, n := range count {
		if n > 1 {
			doubled++
			t.Errorf("%s recorded %d times", what, n)
		}
	}
	return doubled
}

// field reads a field of a stored event whatever the case of its name.
func field(doc bson.M, name string) string {
	for k, v := range doc {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// deadLetters counts the messages set aside.
func (f *faultRun) deadLetters(t *testing.T) int64 {
	ctx, c := f.mongo(t)
	n, err := c.Database(f.rs.run+"_operations").Collection("dead_letters").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mongo connects to the run's FerretDB until the test ends.
func (f *faultRun) mongo(t *testing.T) (context.Context, *mongo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	c, err := mongo.Connect(options.Client().ApplyURI(f.rs.mongoURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return ctx, c
}

// serve starts a service as startService did before, and waits until it
// answers.
func (rs *realSystem) serve(name string) {
	rs.launch(name)
	rs.waitServing(name)
}

// startRealSystem starts FerretDB and the three services on the brokers
// given, with databases, topics and keys of the run's own, removed when tb
// ends; partitions 0 keeps the services' default.
func startRealSystem(tb testing.TB, kind, bus, shopBin, ferretBin, amqpURL, redisURL string, partitions int) (*realSystem, cqrs.Topics) {
	rs, topics, env := newRealSystem(tb, kind, bus, shopBin, ferretBin, amqpURL, redisURL, partitions)
	for _, name := range service.AllServices {
		rs.startService(name, env)
	}
	return rs, topics
}

// kill kills a service's process (kill -9) and waits until it is gone.
func (rs *realSystem) kill(name string) {
	_ = rs.procs[name].Process.Kill()
	_, _ = rs.procs[name].Process.Wait()
	if rs.down == nil {
		rs.down = map[string]bool{}
	}
	rs.down[name] = true
}
