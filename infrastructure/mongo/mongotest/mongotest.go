// Package mongotest gives tests a MongoDB to talk to: the one MONGODB_TEST_URL
// points at, or else an embedded FerretDB (the MongoDB wire protocol on
// PostgreSQL when one is reachable on 127.0.0.1:5432, on SQLite otherwise),
// started once per test binary.
package mongotest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// PostgreSQLURL is where the embedded FerretDB keeps its data when PostgreSQL is reachable.
const PostgreSQLURL = "postgres://127.0.0.1:5432/test"

var (
	once     sync.Once
	url      string
	startErr error
)

// URL returns a MongoDB URL, starting the embedded server on first use.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		t.Fatalf("no MongoDB for tests: %v", startErr)
	}
	return url
}

// newFerretDBMu serialises ferretdb.New, which writes state shared by every
// FerretDB of the process: a test's own server starting beside the
// embedded one raced there.
var newFerretDBMu sync.Mutex

func newFerretDB(cfg *ferretdb.Config) (*ferretdb.FerretDB, error) {
	newFerretDBMu.Lock()
	defer newFerretDBMu.Unlock()
	return ferretdb.New(cfg)
}

func start() {
	if u := os.Getenv("MONGODB_TEST_URL"); u != "" {
		url = u
		return
	}
	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		// FerretDB logs every refused duplicate key as an error; tests cause them on purpose.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})),
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second); err == nil {
		_ = conn.Close()
		cfg.Handler, cfg.PostgreSQLURL = "postgresql", PostgreSQLURL
	} else {
		dir, err := os.MkdirTemp("", "ferretdb-sqlite-")
		if err != nil {
			startErr = err
			return
		}
		cfg.Handler, cfg.SQLiteURL = "sqlite", "file:"+dir+"/"
	}
	f, err := newFerretDB(cfg)
	if err != nil {
		startErr = fmt.Errorf("embedded FerretDB: %w", err)
		return
	}
	go func() { _ = f.Run(context.Background()) }()
	url = f.MongoDBURI()
}

// Client connects to the test server; it is disconnected when the test ends.
func Client(t testing.TB) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(URL(t)).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// Prefix returns a database name prefix of the test's own; the databases
// under it are dropped when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	prefix := "t" + strings.ReplaceAll(uuid.NewString()[:13], "-", "") + "_"
	c := Client(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		names, err := c.ListDatabaseNames(ctx, map[string]any{})
		if err != nil {
			return
		}
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				_ = c.Database(n).Drop(ctx)
			}
		}
	})
	return prefix
}

// Server is an embedded FerretDB of a test's own, which the test may stop and
// start again on the same port, as a MongoDB restart. It keeps its data on
// SQLite in a temporary directory, so that its outage touches no other test.
type Server struct {
	t    testing.TB
	port int
	dir  string
	stop context.CancelFunc
	done chan struct{}
}

// StartServer starts a server on a free port; it is stopped when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	for attempt := 1; ; attempt++ {
		s.port = restartablePort(t)
		err := s.start()
		if err == nil {
			break
		}
		// Another test may take the port between its check and the
		// server's listen: another one, then.
		if !strings.Contains(err.Error(), "address already in use") || attempt == 5 {
			t.Fatal(err)
		}
	}
	return s
}

// URL is the server's MongoDB URL.
func (s *Server) URL() string { return fmt.Sprintf("mongodb://127.0.0.1:%d/", s.port) }

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// start starts the server, and fails if it cannot listen on its port.
func (s *Server) start() error {
	s.t.Helper()
	f, err := newFerretDB(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: fmt.Sprintf("127.0.0.1:%d", s.port)},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + s.dir + "/",
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	s.stop, s.done = cancel, done
	go func() {
		defer close(done)
		runErr = f.Run(ctx)
	}()
	for range 200 {
		select {
		case <-done:
			// It could not listen: the port was taken while it was down.
			s.stop = nil
			return fmt.Errorf("the embedded FerretDB stopped at start: %w", runErr)
		default:
		}
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the embedded FerretDB did not start")
}

// Stop shuts the server down as a MongoDB shutdown does: it stops accepting
// connections, and closes those open after a grace of a few seconds.
func (s *Server) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
	s.stop = nil
}

// restartablePort is a free port below the kernel's range for outgoing
// connections (32768 and up on Linux): a server that a test stops and starts
// again on the same port must not find it taken meanwhile by a connection
// another test opened, as a port the kernel hands out for "127.0.0.1:0" can be.
func restartablePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port found between 20000 and 32000")
	return 0
}
