// Command ferretdb serves the MongoDB wire protocol from the embeddable
// FerretDB, on PostgreSQL. CI starts it once, as a process of its own, and
// points MONGODB_TEST_URL at it, so that the tests' race detector does not
// slow the database down; `make ferretdb` serves it for run-local, and the
// real-servers benchmark runs the services on it.
//
// With -gin it gives every index FerretDB creates a GIN twin in PostgreSQL,
// checking for new ones every second (see mongotest.AddGINIndexes): without
// them every filtered look-up reads its whole table.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"

	"shop/infrastructure/mongo/mongotest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "address to serve on")
	postgres := flag.String("postgresql-url", mongotest.PostgreSQLURL, "PostgreSQL that keeps the data")
	gin := flag.Bool("gin", false, "give FerretDB's indexes GIN twins in PostgreSQL, so that equality look-ups are indexed")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "ferretdb: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
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
	if *gin {
		go addGINIndexes(ctx, *postgres)
	}
	fmt.Println(f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func addGINIndexes(ctx context.Context, postgres string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, err := mongotest.AddGINIndexes(ctx, postgres, ""); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "ferretdb:", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
