package mongo_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

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
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &stallingProxy{listener: l, target: target, flowing: flowing}
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
		go p.forward(client, server)
		go p.forward(server, client)
	}
}

func (p *stallingProxy) forward(from, to net.Conn) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			flowing := p.flowing
			p.mu.Unlock()
			<-flowing
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

func TestAStalledPointerLookupHoldsUpOnlyAsLongAsEachCallerWaits(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(mongotest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallingProxy(t, u.Host)
	client, err := mongo.Connect("mongodb://"+proxy.listener.Addr().String()+"/?directConnection=true", mongotest.Prefix(t), breaker.New("mongodb", breaker.DefaultConfig(), nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
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
	time.Sleep(200 * time.Millisecond) // the first query is looking at the pointer

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
