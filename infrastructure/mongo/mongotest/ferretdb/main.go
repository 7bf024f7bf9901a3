// Command ferretdb serves the MongoDB wire protocol for the test suite, from
// the embeddable FerretDB, on PostgreSQL. CI starts it once, as a process of
// its own, and points MONGODB_TEST_URL at it, so that the tests' race detector
// does not slow the database down.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "address to serve on")
	postgres := flag.String("postgresql-url", "postgres://127.0.0.1:5432/test", "PostgreSQL that keeps the data")
	flag.Parse()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 4})),
		Handler:       "postgresql",
		PostgreSQLURL: *postgres,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println(f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}
