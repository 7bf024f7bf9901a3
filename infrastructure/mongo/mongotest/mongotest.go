// Package mongotest gives tests a MongoDB to talk to: the one MONGODB_TEST_URL
// points at, or else an embedded FerretDB (the MongoDB wire protocol on
// PostgreSQL when one is reachable on 127.0.0.1:5432, on SQLite otherwise),
// started once per test binary.
package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// PostgreSQLURL is where the embedded FerretDB keeps its data when PostgreSQL is reachable.
const PostgreSQLURL = "postgres://127.0.0.1:5432/test"

var (
	once     sync.Once
	url      string
	backend  string
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

// Backend says what the tests talk to: "mongodb", "ferretdb-postgresql" or "ferretdb-sqlite".
func Backend() string {
	once.Do(start)
	return backend
}

func start() {
	if u := os.Getenv("MONGODB_TEST_URL"); u != "" {
		url, backend = u, "mongodb"
		return
	}
	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		// FerretDB logs every refused duplicate key as an error; tests cause them on purpose.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})),
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second); err == nil {
		_ = conn.Close()
		cfg.Handler, cfg.PostgreSQLURL, backend = "postgresql", PostgreSQLURL, "ferretdb-postgresql"
	} else {
		dir, err := os.MkdirTemp("", "ferretdb-sqlite-")
		if err != nil {
			startErr = err
			return
		}
		cfg.Handler, cfg.SQLiteURL, backend = "sqlite", "file:"+dir+"/", "ferretdb-sqlite"
	}
	f, err := ferretdb.New(cfg)
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

// AddGINIndexes makes the embedded FerretDB's indexes of a database usable
// for equality filters: FerretDB v1 builds each index as a btree on
// (_jsonb->'field'), but filters with (_jsonb->'field') @> value, which only a
// GIN index on the same expression serves. Without them every filtered query
// scans its collection. Benchmarks call it after the collections and their
// indexes exist; it does nothing unless the embedded PostgreSQL backend is used.
func AddGINIndexes(t testing.TB, database string) {
	t.Helper()
	if Backend() != "ferretdb-postgresql" {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, PostgreSQLURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND indexdef NOT LIKE '%USING gin%'`, database)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for rows.Next() {
		var table, index, def string
		if err := rows.Scan(&table, &index, &def); err != nil {
			t.Fatal(err)
		}
		// indexdef: CREATE [UNIQUE] INDEX name ON schema.table USING btree (((_jsonb -> 'a'::text)), ...)
		open := strings.Index(def, "USING btree (")
		if open < 0 {
			continue
		}
		cols := def[open+len("USING btree (") : len(def)-1]
		for i, col := range splitTopLevel(cols) {
			col = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(col, " DESC"), " ASC"))
			if !strings.Contains(col, "_jsonb") {
				continue
			}
			stmts = append(stmts, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q.%q USING gin (%s) WITH (fastupdate = off)`,
				fmt.Sprintf("%s_gin%d", index, i), database, table, col))
		}
	}
	rows.Close()
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// splitTopLevel splits a column list at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{t: t, port: port, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's MongoDB URL.
func (s *Server) URL() string { return fmt.Sprintf("mongodb://127.0.0.1:%d/", s.port) }

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: fmt.Sprintf("127.0.0.1:%d", s.port)},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + s.dir + "/",
	})
	if err != nil {
		s.t.Fatal(err)
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
			s.t.Fatalf("the embedded FerretDB stopped at start: %v", runErr)
		default:
		}
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second); err == nil {
			_ = conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("the embedded FerretDB did not start")
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
