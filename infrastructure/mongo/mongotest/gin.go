package mongotest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// indexedField finds the fields of a FerretDB index in its PostgreSQL
// definition: FerretDB v1 builds each as a btree on (_jsonb -> 'field').
var indexedField = regexp.MustCompile(`\(_jsonb -> '([^']+)'::text\)`)

// AddGINIndexes gives every field FerretDB indexes in the PostgreSQL at
// pgURL a GIN index on the same expression, in the schemas (MongoDB
// databases) whose names start with schemaPrefix, and returns how many it
// created.
//
// FerretDB v1 pushes an equality filter down as _jsonb->'field' @> value,
// which its btree indexes cannot serve: without a GIN index beside them every
// filtered find and update reads the whole table, and a benchmark measures
// the table's size rather than the application. fastupdate is off so that a
// look-up never scans a pending list that grows under constant inserts.
// Run it again after new collections appear; an index that exists is left.
func AddGINIndexes(ctx context.Context, pgURL, schemaPrefix string) (int, error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return 0, fmt.Errorf("gin indexes: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT schemaname, tablename, indexdef FROM pg_indexes
		WHERE schemaname LIKE $1 AND indexdef LIKE '%USING btree%' AND tablename NOT LIKE '\_ferretdb%'`,
		strings.ReplaceAll(strings.ReplaceAll(schemaPrefix, `\`, `\\`), "_", `\_`)+"%")
	if err != nil {
		return 0, fmt.Errorf("gin indexes: %w", err)
	}
	type target struct{ schema, table, field string }
	var targets []target
	seen := map[target]bool{}
	for rows.Next() {
		var schema, table, def string
		if err := rows.Scan(&schema, &table, &def); err != nil {
			rows.Close()
			return 0, fmt.Errorf("gin indexes: %w", err)
		}
		for _, m := range indexedField.FindAllStringSubmatch(def, -1) {
			t := target{schema, table, m[1]}
			if !seen[t] {
				seen[t] = true
				targets = append(targets, t)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("gin indexes: %w", err)
	}
	created := 0
	for _, t := range targets {
		sum := sha256.Sum256([]byte(t.schema + "." + t.table + "." + t.field))
		name := "gin_" + hex.EncodeToString(sum[:12])
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = $2)`, t.schema, name).Scan(&exists); err != nil {
			return created, fmt.Errorf("gin indexes: %w", err)
		}
		if exists {
			continue
		}
		field := strings.ReplaceAll(t.field, "'", "''")
		stmt := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING gin ((_jsonb -> '%s')) WITH (fastupdate = off)`,
			pgx.Identifier{name}.Sanitize(), pgx.Identifier{t.schema, t.table}.Sanitize(), field)
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return created, fmt.Errorf("gin index on %s.%s %s: %w", t.schema, t.table, t.field, err)
		}
		created++
	}
	return created, nil
}

// Vacuum vacuums the tables FerretDB keeps in the schemas whose names start
// with schemaPrefix, as autovacuum would: a PostgreSQL without it (this
// machine's has it off) keeps every dead version of an updated document, and
// FerretDB's look-ups of a document updated a hundred times visit them all.
func Vacuum(ctx context.Context, pgURL, schemaPrefix string) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT schemaname, tablename FROM pg_tables WHERE schemaname LIKE $1`,
		strings.ReplaceAll(strings.ReplaceAll(schemaPrefix, `\`, `\\`), "_", `\_`)+"%")
	if err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	var tables []string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			rows.Close()
			return fmt.Errorf("vacuum: %w", err)
		}
		tables = append(tables, pgx.Identifier{schema, table}.Sanitize())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

// Autovacuum reports whether the PostgreSQL at pgURL vacuums by itself.
func Autovacuum(ctx context.Context, pgURL string) (bool, error) {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return false, fmt.Errorf("autovacuum: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var on string
	if err := conn.QueryRow(ctx, "SHOW autovacuum").Scan(&on); err != nil {
		return false, fmt.Errorf("autovacuum: %w", err)
	}
	return on == "on", nil
}
