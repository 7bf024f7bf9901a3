package mongo_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/fault"
	"shop/app/inventory"
	"shop/app/operations"
	"shop/app/orders"
	"shop/infrastructure/breaker"
	"shop/infrastructure/mongo"
	"shop/infrastructure/mongo/mongotest"
)

// stallingProxy forwards TCP to MongoDB, and holds every byte while stalled,
// as a server that stopped answering would.
type stallingProxy struct {
	listener net.Listener
	target   string

	mu      sync.Mutex
	flowing chan struct{} // closed unless stalled
	// answering is closed unless the server's answers are held: the
	// requests reach it, and it answers as of then.
	answering chan struct{}
	// heldRequests and heldAnswers count what waits in the proxy now.
	heldRequests, heldAnswers atomic.Int32
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flowing, answering := make(chan struct{}), make(chan struct{})
	close(flowing)
	close(answering)
	p := &stallingProxy{listener: l, target: target, flowing: flowing, answering: answering}
	t.Cleanup(func() { _ = l.Close() })
	go p.accept()
	return p
}

func (p *stallingProxy) accept() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		go p.forward(client, server, false)
		go p.forward(server, client, true)
	}
}

func (p *stallingProxy) forward(from, to net.Conn, answers bool) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			flowing, answering := p.flowing, p.answering
			p.mu.Unlock()
			held := &p.heldRequests
			if answers {
				held = &p.heldAnswers
			}
			held.Add(1)
			<-flowing
			if answers {
				<-answering
			}
			held.Add(-1)
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallingProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flowing = make(chan struct{})
}

func (p *stallingProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.flowing)
}

func (p *stallingProxy) holdAnswers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answering = make(chan struct{})
}

func (p *stallingProxy) releaseAnswers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.answering)
}

func TestAStalledPointerLookupHoldsUpOnlyAsLongAsEachCallerWaits(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(mongotest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallingProxy(t, u.Host)
	client := connectTo(t, "mongodb://"+proxy.listener.Addr().String()+"/?directConnection=true", mongotest.Prefix(t), breaker.New("mongodb", breaker.DefaultConfig(), nil))
	views, err := mongo.NewOrderViews(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(mongo.PointerTTL + 100*time.Millisecond) // the pointer is due to be read again

	proxy.stall()
	stalled := true
	defer func() {
		if stalled {
			proxy.resume()
		}
	}()
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := views.Get(ctx, "o-1")
		first <- err
	}()
	// The first query is looking at the pointer.
	waitUntil(t, func() bool { return proxy.heldRequests.Load() > 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _ = views.Get(ctx, "o-1")
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a query with 300ms to live took %s behind the stalled lookup", took.Round(time.Millisecond))
	}

	proxy.resume()
	stalled = false
	<-first
	// Once MongoDB answers again, so does the read model.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := views.Get(context.Background(), "o-1")
		if errors.Is(err, orders.ErrOrderNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAPointerReadBeforeASwapButAnsweredAfterIsNotActedOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, err := url.Parse(mongotest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := mongotest.Prefix(t)
	connect := func(addr string) *mongo.Client {
		client := connectTo(t, "mongodb://"+addr+"/?directConnection=true", prefix, breaker.New("mongodb", breaker.DefaultConfig(), nil))
		return client
	}
	proxy := newStallingProxy(t, u.Host)
	// One process reaches MongoDB through a link that delays its answers;
	// the operator's rebuild runs from another.
	slow, err := mongo.NewProductViews(ctx, connect(proxy.listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	operator, err := mongo.NewProductViews(ctx, connect(u.Host))
	if err != nil {
		t.Fatal(err)
	}
	// A connection in the pool, so that the lookup's request goes out at once.
	if _, err := slow.Get(ctx, "p-none"); !errors.Is(err, inventory.ErrProductNotFound) {
		t.Fatal(err)
	}
	time.Sleep(mongo.PointerTTL + 100*time.Millisecond) // the slow process's pointer is due

	proxy.holdAnswers()
	released := false
	defer func() {
		if !released {
			proxy.releaseAnswers()
		}
	}()
	created := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		created <- slow.Create(ctx, inventory.ProductView{ProductID: "p-late", Name: "Late", Available: 1, Version: 1})
	}()
	// Its pointer lookup was answered, the answer held.
	waitUntil(t, func() bool { return proxy.heldAnswers.Load() > 0 })

	_, steps, err := operator.Rebuilding(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := steps.Swap(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(mongo.PointerTTL)
	proxy.releaseAnswers()
	released = true
	if err := <-created; err != nil {
		t.Fatalf("create after the held answer: %v", err)
	}
	// The held answer named the old collection; acted on, the view would
	// have gone there, after the swap, and been dropped with it.
	if _, err := operator.Get(ctx, "p-late"); err != nil {
		t.Fatalf("the live read model lacks the view: %v", err)
	}
	n, err := mongotest.Client(t).Database(prefix+"inventory").Collection("products").CountDocuments(ctx, map[string]string{"_id": "p-late"})
	if err != nil || n != 0 {
		t.Fatalf("the old collection got %d views (%v)", n, err)
	}
}

func TestAbandonKeepsACopyThePointerNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := connectTo(t, mongotest.URL(t), mongotest.Prefix(t), breaker.New("mongodb", breaker.DefaultConfig(), nil))
	views, err := mongo.NewProductViews(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	copy, steps, err := views.Rebuilding(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := copy.Create(ctx, inventory.ProductView{ProductID: "p-1", Name: "One", Available: 3, Version: 1}); err != nil {
		t.Fatal(err)
	}
	// As after a swap whose answer was lost: the pointer names the copy.
	if err := steps.Swap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := steps.Abandon(ctx); err == nil || !strings.Contains(err.Error(), "kept") {
		t.Fatalf("abandoning the live copy: %v", err)
	}
	if p, err := views.Get(ctx, "p-1"); err != nil || p.Available != 3 {
		t.Fatalf("the live read model after the refused abandon: %+v, %v", p, err)
	}
}

func TestOneProcessAtATimeHoldsTheRebuildLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := mongotest.Prefix(t)
	// Two processes: a replica's admin API and the command line.
	process := func() *mongo.OrderViews {
		client := connectTo(t, mongotest.URL(t), prefix, breaker.New("mongodb", breaker.DefaultConfig(), nil))
		views, err := mongo.NewOrderViews(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		return views
	}
	replica, cli := process(), process()
	lease, err := replica.RebuildLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Lost(ctx); err != nil {
		t.Fatalf("a lease just taken: %v", err)
	}
	if _, err := cli.RebuildLease(ctx); !errors.Is(err, operations.ErrRebuildRunning) {
		t.Fatalf("a second lease while the first is held: %v", err)
	}
	lease.Release()
	lease, err = cli.RebuildLease(ctx)
	if err != nil {
		t.Fatalf("the lease after its release: %v", err)
	}
	lease.Release()

	// A holder that died leaves a lease that expires; then it is taken over,
	// and the holder, were it only slow, learns it before its next step.
	leases := mongotest.Client(t).Database(prefix + "orders").Collection("rebuild_leases")
	if _, err := leases.InsertOne(ctx, map[string]any{"_id": "orders", "owner": "dead", "until": time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	lease, err = replica.RebuildLease(ctx)
	if err != nil {
		t.Fatalf("an expired lease was not taken over: %v", err)
	}
	if _, err := leases.UpdateOne(ctx, map[string]any{"_id": "orders"}, map[string]any{"$set": map[string]any{"owner": "another"}}); err != nil {
		t.Fatal(err)
	}
	if err := lease.Lost(ctx); !errors.Is(err, operations.ErrLeaseLost) {
		t.Fatalf("a lease another process took over: %v", err)
	}
	lease.Release()
	if n, err := leases.CountDocuments(ctx, map[string]any{"owner": "another"}); err != nil || n != 1 {
		t.Fatalf("the release of a lost lease deleted the other process's (%d left, %v)", n, err)
	}
}

func TestThePointerLookupIsTheHalfOpenBreakersTrialNotACallInsideIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := breaker.New("mongodb", breaker.Config{CallTimeout: time.Second, ErrorThreshold: 50, MinRequests: 1, Window: time.Minute, ResetTimeout: 200 * time.Millisecond}, nil)
	client := connectTo(t, mongotest.URL(t), mongotest.Prefix(t), b)
	views, err := mongo.NewProductViews(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	// MongoDB was down a moment: the breaker opened, and every pointer is
	// due to be read again by the time it lets a trial call through.
	_ = b.Do(ctx, func(context.Context) error { return fault.Unavailable("mongodb", errors.New("connection refused")) })
	if b.State() != "open" {
		t.Fatalf("breaker %s", b.State())
	}
	time.Sleep(max(mongo.PointerTTL, 200*time.Millisecond) + 100*time.Millisecond)
	if _, err := views.Get(ctx, "p-none"); !errors.Is(err, inventory.ErrProductNotFound) {
		t.Fatalf("the first query after the outage: %v", err)
	}
	if b.State() != "closed" {
		t.Fatalf("the breaker after a query that succeeded: %s", b.State())
	}
}

// waitUntil waits, for up to ten seconds, until cond holds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
	}
}
