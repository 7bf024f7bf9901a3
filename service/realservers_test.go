package service_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/cqrs"
	"shop/domain/notification"
	"shop/infrastructure/amqp/amqptest"
	"shop/infrastructure/mongo/mongotest"
	"shop/infrastructure/redis/redistest"
	"shop/ports/loadgen"
	"shop/service"
)

// BenchmarkRealServers measures the system as it is deployed: the three
// services as processes of their own (the shop binary) on RabbitMQ or Redis
// Streams, Redis, and the MongoDB wire protocol (FerretDB on the local
// PostgreSQL, with the GIN indexes that make its look-ups indexed). After a
// warm-up it places b.N orders (-benchtime 2000x) with BENCH_CONCURRENCY
// customers in a closed loop, or, with BENCH_RATE set, orders at that rate for
// BENCH_DURATION in an open loop. It reports completed orders/s, latency end
// to end, MongoDB round trips per order by service and by command (from each
// process's shop_mongodb_commands_total, which the driver's command monitor
// counts), bus messages per order, the processes' CPU and memory, how long the
// read models took to catch up after the last order, and the collection sizes
// it ran at.
//
// BENCH_BUSES picks the brokers (amqp,redis), BENCH_PARTITIONS the services'
// PARTITIONS, BENCH_REPLICAS how many processes of each service run (their
// metrics summed). BENCH_SHOPS runs several builds
// of the shop binary side by side, name=path pairs (old=/tmp/old/shop,new=);
// an empty path builds the working tree's. Run it with `make bench-real`.
func BenchmarkRealServers(b *testing.B) {
	buses := strings.Split(envOr("BENCH_BUSES", "amqp,redis"), ",")
	shops := benchShops(b)
	for _, bus := range buses {
		for _, s := range shops {
			b.Run(bus+"/"+s.name, func(b *testing.B) { benchmarkRealServers(b, bus, s.path) })
		}
	}
}

type shopBuild struct{ name, path string }

var (
	buildOnce sync.Once
	builtDir  string
	builtShop string
	builtDB   string
	buildErr  error
)

// TestMain removes the binaries the real-server tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// benchBinaries builds the working tree's shop and the FerretDB server once.
func benchBinaries(b testing.TB) (shop, ferretdb string) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shop-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtDir = dir
		builtShop, builtDB = filepath.Join(dir, "shop"), filepath.Join(dir, "ferretdb")
		for pkg, out := range map[string]string{"shop/cmd/shop": builtShop, "shop/infrastructure/mongo/mongotest/ferretdb": builtDB} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			if msg, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
				return
			}
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtShop, builtDB
}

func benchShops(b *testing.B) []shopBuild {
	spec := envOr("BENCH_SHOPS", "new=")
	var out []shopBuild
	for _, pair := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(pair, "=")
		if !ok || name == "" {
			b.Fatalf("BENCH_SHOPS: %q is not name=path", pair)
		}
		out = append(out, shopBuild{name, path})
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(b *testing.B, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s: %q is not a whole number", key, v)
	}
	return n
}

func envDuration(b *testing.B, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s: %q is not a duration", key, v)
	}
	return d
}

// realSystem is the three services, each a process of its own, and the
// FerretDB server they share.
type realSystem struct {
	tb       testing.TB
	run      string // names the run's databases, topics and keys
	bus      string
	logs     string
	ferretdb *exec.Cmd
	mongoURL string
	procs    map[string]*exec.Cmd
	urls     map[string]string
	// bin and envs start a service again as it was, ferretBin and
	// ferretPort FerretDB.
	bin        string
	envs       map[string]map[string]string
	ferretBin  string
	ferretPort int
	running    []runningProcess
	client     *http.Client
	// down names the services' processes killed and not started again.
	down map[string]bool
}

func benchmarkRealServers(b *testing.B, bus, shopPath string) {
	rate := envInt(b, "BENCH_RATE", 0)
	if b.N == 1 && rate == 0 {
		// The framework's first probe of every benchmark; starting a whole
		// system to place one order would only slow the run down.
		return
	}
	shopBin, ferretBin := benchBinaries(b)
	if shopPath != "" {
		shopBin = shopPath
	}
	redisURL := redistest.URL(b)
	amqpURL := ""
	if bus == service.BusAMQP {
		amqpURL = amqptest.URL(b)
	}
	partitions := envInt(b, "BENCH_PARTITIONS", 0)
	rs, topics, env := newRealSystem(b, "bench", bus, shopBin, ferretBin, amqpURL, redisURL, partitions)
	for _, svc := range service.AllServices {
		for i := range max(envInt(b, "BENCH_REPLICAS", 1), 1) {
			rs.startService(replicaName(svc, i), env)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	completions := rs.tap(ctx, bus, amqpURL, redisURL, topics)
	products := rs.seedProducts(envInt(b, "BENCH_PRODUCTS", 100))
	warmup := envInt(b, "BENCH_WARMUP", 300)
	if warmup > 0 {
		if _, err := loadgen.Run(ctx, loadgen.Config{
			OrdersURL: rs.urls[service.Orders], Orders: warmup, Concurrency: 16, Products: products,
			Completions: completions, Timeout: 2 * time.Minute, Client: rs.client,
		}); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	// The collections exist now; their indexes get GIN twins before the run.
	if _, err := mongotest.AddGINIndexes(ctx, mongotest.PostgreSQLURL, rs.run+"_"); err != nil {
		b.Fatal(err)
	}
	rs.vacuumWhileRunning(ctx)
	reservedBefore := rs.reserved(products)
	sizesBefore := rs.collectionSizes()
	before := rs.scrape()
	cpuBefore := serversCPU(rs.ferretdb.Process.Pid)

	cfg := loadgen.Config{
		OrdersURL: rs.urls[service.Orders], Products: products, Completions: completions,
		Timeout: 2 * time.Minute, Client: rs.client,
	}
	if rate > 0 {
		cfg.Rate, cfg.Duration = float64(rate), envDuration(b, "BENCH_DURATION", time.Minute)
		cfg.Progress = rs.progress(time.Now())
	} else {
		cfg.Orders, cfg.Concurrency = b.N, envInt(b, "BENCH_CONCURRENCY", 64)
	}
	b.ResetTimer()
	res, err := loadgen.Run(ctx, cfg)
	b.StopTimer()
	if err != nil {
		b.Fatalf("%v: %s", err, res)
	}
	caughtUp := rs.settle(ctx)
	after := rs.scrape()
	cpuAfter := serversCPU(rs.ferretdb.Process.Pid)
	rs.check(res, products, reservedBefore)
	sizesAfter := rs.collectionSizes()

	done := float64(res.Confirmed + res.Rejected)
	if done == 0 {
		b.Fatalf("no order completed: %s", res)
	}
	var rtTotal, msgTotal float64
	var report strings.Builder
	fmt.Fprintf(&report, "%s on %s, %s\n", shopBin, bus, res)
	fmt.Fprintf(&report, "every message handled %s after the last completion\n", caughtUp.Round(time.Millisecond))
	for _, name := range service.AllServices {
		d := after[name].Since(before[name])
		byCommand := d.Sum("shop_mongodb_commands_total", "command")
		rt := 0.0
		for _, n := range byCommand {
			rt += n
		}
		rtTotal += rt
		msgs := d.Value("shop_bus_messages_published_total")
		msgTotal += msgs
		cpu := d.Value("process_cpu_seconds_total")
		fmt.Fprintf(&report, "%-13s MongoDB %5.2f round trips/order (%s); bus %4.2f messages/order; CPU %.2f cores; RSS %s -> %s\n",
			name, rt/done, perOrder(byCommand, done), msgs/done, cpu/res.Elapsed.Seconds(),
			mib(before[name].Value("process_resident_memory_bytes")), mib(after[name].Value("process_resident_memory_bytes")))
	}
	fmt.Fprintf(&report, "all           MongoDB %5.2f round trips/order; bus %.2f messages/order\n", rtTotal/done, msgTotal/done)
	fmt.Fprintf(&report, "servers' CPU: %s\n", cpuAfter.since(cpuBefore, res.Elapsed))
	fmt.Fprintf(&report, "collections before -> after: %s\n", sizes(sizesBefore, sizesAfter))
	fmt.Fprintf(&report, "log lines: %s", rs.logSummary())
	// Printed rather than logged: the framework cuts a benchmark's log short.
	fmt.Println(report.String())
	b.ReportMetric(res.PerSecond, "orders/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(rtTotal/done, "mongo-rt/order")
	b.ReportMetric(msgTotal/done, "bus-msgs/order")
	b.ReportMetric(float64(caughtUp.Milliseconds()), "catch-up-ms")
	if res.Incomplete > 0 {
		b.Errorf("%d orders did not complete", res.Incomplete)
	}
}

// replicaName names the i-th process of a service: the first by the
// service's name, so that it answers at the service's own address.
func replicaName(svc string, i int) string {
	if i == 0 {
		return svc
	}
	return fmt.Sprintf("%s#%d", svc, i+1)
}

// newRealSystem starts FerretDB, and returns the services' environment,
// for a run whose services are started by the caller.
func newRealSystem(tb testing.TB, kind, bus, shopBin, ferretBin, amqpURL, redisURL string, partitions int) (*realSystem, cqrs.Topics, map[string]string) {
	rs := &realSystem{
		tb: tb, run: kind + strings.ReplaceAll(uuid.NewString()[:8], "-", ""), bus: bus,
		procs: map[string]*exec.Cmd{}, urls: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 512}},
	}
	var err error
	if rs.logs, err = os.MkdirTemp("", "shop-"+rs.run+"-"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("logs of %s (kept if it fails): %s", rs.run, rs.logs)
	topics := service.DefaultConfig().Topics
	topics.Prefix = rs.run + "."
	if partitions > 0 {
		topics.Partitions = partitions
	}
	// The services stop first, then what they wrote is removed, while the
	// servers still run.
	tb.Cleanup(func() {
		rs.stopProcesses(func(name string) bool { return name != "ferretdb" })
		rs.cleanUp(bus, amqpURL, redisURL, topics)
		rs.stopProcesses(func(string) bool { return true })
		if !tb.Failed() {
			_ = os.RemoveAll(rs.logs) // kept only to read after a failure
		}
	})
	rs.startFerretDB(ferretBin)
	env := map[string]string{
		"BUS": bus, "RABBITMQ_URL": amqpURL, "REDIS_URL": redisURL, "MONGODB_URL": rs.mongoURL,
		"MONGODB_DATABASE_PREFIX": rs.run + "_", "TOPIC_PREFIX": rs.run + ".", "REDIS_KEY_PREFIX": rs.run + ":",
		"DEMO_CATALOG": "false", "LOG_LEVEL": "warn", "LOG_FORMAT": "json",
	}
	if partitions > 0 {
		env["PARTITIONS"] = strconv.Itoa(partitions)
	}
	rs.bin = shopBin
	return rs, topics, env
}

// progress prints how an open loop goes, every second in which an order
// took over a second and every ten seconds otherwise, with the services'
// memory every minute.
func (rs *realSystem) progress(start time.Time) func(loadgen.Progress) {
	return func(p loadgen.Progress) {
		second := int(p.Elapsed.Round(time.Second).Seconds())
		if second%10 == 0 || p.Max > time.Second {
			fmt.Println(p)
		}
		if second%60 == 0 {
			var rss []string
			for name, s := range rs.scrape() {
				rss = append(rss, fmt.Sprintf("%s %s", name, mib(s.Value("process_resident_memory_bytes"))))
			}
			slices.Sort(rss)
			fmt.Printf("%5s RSS: %s\n", time.Since(start).Round(time.Second), strings.Join(rss, ", "))
		}
	}
}

func perOrder(byCommand map[string]float64, done float64) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(byCommand)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", c, byCommand[c]/done))
	}
	return strings.Join(parts, ", ")
}

func mib(bytes float64) string { return fmt.Sprintf("%.0f MiB", bytes/(1<<20)) }

func freePort(b testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// vacuumWhileRunning vacuums the run's tables every 30 s when PostgreSQL
// does not (its autovacuum is off): a maintained PostgreSQL, as production
// runs it, keeps FerretDB's look-ups of often updated documents (a popular
// product's view) from visiting every dead version of them.
func (rs *realSystem) vacuumWhileRunning(ctx context.Context) {
	on, err := mongotest.Autovacuum(ctx, mongotest.PostgreSQLURL)
	if err != nil {
		rs.tb.Fatal(err)
	}
	if on {
		return
	}
	fmt.Println("PostgreSQL's autovacuum is off: the benchmark vacuums its tables every 30 s")
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := mongotest.Vacuum(ctx, mongotest.PostgreSQLURL, rs.run+"_"); err != nil && ctx.Err() == nil {
					fmt.Println(err)
				}
			}
		}
	}()
}

func (rs *realSystem) startFerretDB(bin string) {
	port := freePort(rs.tb)
	rs.mongoURL = fmt.Sprintf("mongodb://127.0.0.1:%d/", port)
	rs.ferretBin, rs.ferretPort = bin, port
	rs.serveFerretDB()
}

// serveFerretDB starts FerretDB as startFerretDB did before, and waits
// until it accepts connections.
func (rs *realSystem) serveFerretDB() {
	port := rs.ferretPort
	rs.ferretdb = rs.start("ferretdb", rs.ferretBin, []string{"-listen", fmt.Sprintf("127.0.0.1:%d", port)}, nil)
	rs.waitFor("ferretdb", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
}

func (rs *realSystem) startService(name string, env map[string]string) {
	rs.launchService(name, env)
	rs.waitServing(name)
}

// launchService starts a service's process without waiting for it. A name
// such as "inventory#2" is a further replica of the service before the #.
func (rs *realSystem) launchService(name string, env map[string]string) {
	port := freePort(rs.tb)
	e := maps.Clone(env)
	e["PORT"] = strconv.Itoa(port)
	e["REDIS_CONSUMER_NAME"] = strings.ReplaceAll(name, "#", "-")
	if rs.envs == nil {
		rs.envs = map[string]map[string]string{}
	}
	rs.envs[name] = e
	rs.urls[name] = fmt.Sprintf("http://127.0.0.1:%d", port)
	rs.launch(name)
}

func (rs *realSystem) launch(name string) {
	svc, _, _ := strings.Cut(name, "#")
	delete(rs.down, name)
	rs.procs[name] = rs.start(name, rs.bin, []string{"serve", "--services", svc}, rs.envs[name])
}

// waitServing waits until a service started answers its health check.
func (rs *realSystem) waitServing(name string) {
	rs.waitFor(name, func() bool {
		resp, err := rs.client.Get(rs.urls[name] + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// start runs a process with only the given environment, its output in the
// run's log directory; it is stopped when the test ends (see
// startRealSystem), and dies with the test process.
func (rs *realSystem) start(name, bin string, args []string, env map[string]string) *exec.Cmd {
	out, err := os.OpenFile(filepath.Join(rs.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		rs.tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		rs.tb.Fatalf("start %s: %v", name, err)
	}
	rs.running = append(rs.running, runningProcess{name: name, cmd: cmd, out: out})
	return cmd
}

type runningProcess struct {
	name string
	cmd  *exec.Cmd
	out  *os.File
}

// stopProcesses stops, all at once, the processes started whose names
// match: SIGTERM, then SIGKILL after 20 s.
func (rs *realSystem) stopProcesses(match func(name string) bool) {
	var wg sync.WaitGroup
	var left []runningProcess
	for _, p := range rs.running {
		if !match(p.name) {
			left = append(left, p)
			continue
		}
		wg.Go(func() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(exited) }()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-exited
			}
			_ = p.out.Close()
		})
	}
	wg.Wait()
	rs.running = left
}

func (rs *realSystem) waitFor(name string, ready func() bool) {
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			rs.tb.Fatalf("%s did not come up; see %s", name, filepath.Join(rs.logs, name+".log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tap subscribes a consumer group of its own to the notifications' events,
// declared before any order is placed.
func (rs *realSystem) tap(ctx context.Context, bus, amqpURL, redisURL string, topics cqrs.Topics) <-chan loadgen.Completion {
	cfg := service.DefaultConfig()
	cfg.Bus, cfg.AMQP.URL, cfg.RedisURL, cfg.Topics = bus, amqpURL, redisURL, topics
	cfg.Streams.Consumer = "loadgen"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := service.OpenBus(cfg, logger)
	if err != nil {
		rs.tb.Fatal(err)
	}
	rs.tb.Cleanup(func() { _ = b.Close() })
	for p := range topics.Partitions {
		if err := b.Declare(ctx, cqrs.PartitionName("loadgen", p), topics.Events(notification.AggregateType, p)); err != nil {
			rs.tb.Fatal(err)
		}
	}
	subscriber := func(partition int) (message.Subscriber, error) {
		sub, err := b.Subscribers(cqrs.PartitionName("loadgen", partition))
		if err == nil {
			rs.tb.Cleanup(func() { _ = sub.Close() })
		}
		return sub, err
	}
	registry, err := service.NewRegistry()
	if err != nil {
		rs.tb.Fatal(err)
	}
	completions, err := loadgen.Tap(ctx, subscriber, topics, cqrs.Marshaler{Registry: registry})
	if err != nil {
		rs.tb.Fatal(err)
	}
	return completions
}

func (rs *realSystem) seedProducts(n int) []string {
	var ids []string
	for i := range n {
		id := fmt.Sprintf("bench-%03d", i)
		body := fmt.Sprintf(`{"productId":%q,"name":"Bench %d","stock":1000000000}`, id, i)
		resp, err := rs.client.Post(rs.urls[service.Inventory]+"/products", "application/json", strings.NewReader(body))
		if err != nil {
			rs.tb.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			rs.tb.Fatalf("add product %s: %d %s", id, resp.StatusCode, raw)
		}
		ids = append(ids, id)
	}
	// Wait until the products view has them all, so that the run starts
	// from a quiet system.
	rs.waitFor("products view", func() bool { return rs.reserved(ids) >= 0 })
	return ids
}

// reserved sums the units the products view shows reserved, or -1 while a
// product is missing from it.
func (rs *realSystem) reserved(products []string) int {
	total, seen := 0, 0
	cursor := ""
	for {
		var page struct {
			Products []struct {
				ProductID string `json:"productId"`
				Reserved  int    `json:"reserved"`
			} `json:"products"`
			NextCursor string `json:"nextCursor"`
		}
		if !rs.getJSON(rs.urls[service.Inventory]+"/products?limit=100&cursor="+cursor, &page) {
			return -1
		}
		for _, p := range page.Products {
			if slices.Contains(products, p.ProductID) {
				total += p.Reserved
				seen++
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if seen < len(products) {
		return -1
	}
	return total
}

func (rs *realSystem) getJSON(url string, into any) bool {
	resp, err := rs.client.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return json.NewDecoder(resp.Body).Decode(into) == nil
}

// settle waits until no service has handled a message for half a second
// (the last projections caught up), and returns how long that took.
func (rs *realSystem) settle(ctx context.Context) time.Duration {
	start := time.Now()
	handled := func() float64 {
		total := 0.0
		for _, s := range rs.scrape() {
			total += s.Value("shop_watermill_subscriber_messages_received_total") + s.Value("shop_watermill_handler_execution_time_seconds_count")
		}
		return total
	}
	last, lastChange := handled(), time.Now()
	for time.Since(lastChange) < 500*time.Millisecond {
		if time.Since(start) > 5*time.Minute || ctx.Err() != nil {
			rs.tb.Fatal("the services did not settle")
		}
		time.Sleep(50 * time.Millisecond)
		if now := handled(); now != last {
			last, lastChange = now, time.Now()
		}
	}
	return lastChange.Sub(start)
}

// check verifies that the read models show the run exactly: the last orders
// decided in the orders view, their two notifications in the notifications
// view, and the products view's reserved units grown by one per confirmed
// order, no more, no less.
func (rs *realSystem) check(res loadgen.Result, products []string, reservedBefore int) {
	for _, id := range res.Last {
		var o struct {
			Order struct {
				Status string `json:"status"`
			} `json:"order"`
		}
		var n struct {
			Notifications []struct {
				Status string `json:"status"`
			} `json:"notifications"`
		}
		if !rs.getJSON(rs.urls[service.Orders]+"/orders/"+id, &o) || o.Order.Status == "PENDING" {
			rs.tb.Errorf("order %s: the orders view shows %q", id, o.Order.Status)
		}
		if !rs.getJSON(rs.urls[service.Notifications]+"/notifications?orderId="+id, &n) || len(n.Notifications) != 2 {
			rs.tb.Errorf("order %s: the notifications view shows %d notifications", id, len(n.Notifications))
		}
	}
	if got, want := rs.reserved(products), reservedBefore+res.Confirmed; got != want {
		rs.tb.Errorf("the products view shows %d units reserved, want %d", got, want)
	}
}

// scrape reads every service's metrics, summed over its replicas.
func (rs *realSystem) scrape() map[string]loadgen.Series {
	out := map[string]loadgen.Series{}
	for name, url := range rs.urls {
		if rs.down[name] {
			continue
		}
		s, err := loadgen.Scrape(context.Background(), rs.client, url+"/metrics")
		if err != nil {
			rs.tb.Fatal(err)
		}
		svc, _, _ := strings.Cut(name, "#")
		if out[svc] == nil {
			out[svc] = loadgen.Series{}
		}
		for k, v := range s {
			out[svc][k] += v
		}
	}
	return out
}

// collectionSizes counts the documents of every collection of the run.
func (rs *realSystem) collectionSizes() map[string]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(rs.mongoURL))
	if err != nil {
		rs.tb.Fatal(err)
	}
	defer c.Disconnect(ctx)
	out := map[string]int64{}
	for _, svc := range service.AllServices {
		db := c.Database(rs.run + "_" + svc)
		names, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			rs.tb.Fatal(err)
		}
		for _, n := range names {
			count, err := db.Collection(n).CountDocuments(ctx, bson.D{})
			if err != nil {
				rs.tb.Fatal(err)
			}
			out[svc+"."+n] = count
		}
	}
	return out
}

func sizes(before, after map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		parts = append(parts, fmt.Sprintf("%s %d -> %d", k, before[k], after[k]))
	}
	return strings.Join(parts, ", ")
}

// logSummary counts the warnings and errors each service logged, and names
// the most frequent messages.
func (rs *realSystem) logSummary() string {
	var out strings.Builder
	for _, name := range service.AllServices {
		f, err := os.Open(filepath.Join(rs.logs, name+".log"))
		if err != nil {
			continue
		}
		counts := map[string]int{}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Level != "" {
				counts[line.Level+" "+line.Msg]++
			}
		}
		f.Close()
		fmt.Fprintf(&out, "\n  %s:", name)
		if len(counts) == 0 {
			out.WriteString(" none")
		}
		for _, k := range slices.SortedFunc(maps.Keys(counts), func(a, b string) int { return counts[b] - counts[a] }) {
			fmt.Fprintf(&out, "\n    %6d %s", counts[k], k)
		}
	}
	return out.String()
}

func (rs *realSystem) cleanUp(bus, amqpURL, redisURL string, topics cqrs.Topics) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := mongo.Connect(options.Client().ApplyURI(rs.mongoURL)); err == nil {
		names, _ := c.ListDatabaseNames(ctx, bson.D{})
		for _, n := range names {
			if strings.HasPrefix(n, rs.run+"_") {
				_ = c.Database(n).Drop(ctx)
			}
		}
		_ = c.Disconnect(ctx)
	}
	switch bus {
	case service.BusAMQP:
		var queues, exchanges []string
		for _, b := range service.Topology(topics) {
			queues = append(queues, topics.Prefix+b.ConsumerGroup)
			exchanges = append(exchanges, b.Topic)
		}
		for p := range topics.Partitions {
			queues = append(queues, topics.Prefix+cqrs.PartitionName("loadgen", p))
		}
		amqptest.DeleteQueues(rs.tb, amqpURL, queues, append(exchanges, topics.Poison()))
	case service.BusRedis:
		opts, err := goredis.ParseURL(redisURL)
		if err != nil {
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		for _, pattern := range []string{topics.Prefix + "*", rs.run + ":*"} {
			iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
		}
	}
}

// cpuTimes are the CPU seconds used by the processes around the services:
// FerretDB, PostgreSQL, the brokers, and this process, which generates the load.
type cpuTimes struct{ ferretdb, postgres, rabbitmq, redis, loadgen float64 }

func serversCPU(ferretdbPID int) cpuTimes {
	t := cpuTimes{ferretdb: processCPU(ferretdbPID), loadgen: processCPU(os.Getpid())}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "postgres":
			t.postgres += processCPU(pid)
		case "beam.smp":
			t.rabbitmq += processCPU(pid)
		case "redis-server":
			t.redis += processCPU(pid)
		}
	}
	return t
}

func (t cpuTimes) since(before cpuTimes, over time.Duration) string {
	s := over.Seconds()
	return fmt.Sprintf("FerretDB %.2f, PostgreSQL %.2f, RabbitMQ %.2f, Redis %.2f, load generator %.2f cores",
		(t.ferretdb-before.ferretdb)/s, (t.postgres-before.postgres)/s, (t.rabbitmq-before.rabbitmq)/s, (t.redis-before.redis)/s, (t.loadgen-before.loadgen)/s)
}

// processCPU is the user and system time of a process, in seconds.
func processCPU(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || runtime.GOOS != "linux" {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
}
