// Package redistest gives tests a Redis: REDIS_TEST_URL, or the one on
// 127.0.0.1:6379. When it cannot be reached the test is skipped, or fails
// under CI=true.
package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// URL returns a reachable Redis URL.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_TEST_URL: %v", err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is not reachable: %v", url, err)
		}
		t.Skipf("Redis at %s is not reachable: %v", url, err)
	}
	return url
}

// Prefix returns a key prefix of the test's own; its keys are deleted when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	prefix := "test:" + uuid.NewString()[:8] + ":"
	url := URL(t)
	t.Cleanup(func() {
		opts, _ := goredis.ParseURL(url)
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// Server is a redis-server of the test's own, which the test may kill and
// start again. It writes every command to its append-only file before
// answering, as a Redis that carries a bus must, so a kill loses nothing it
// acknowledged.
type Server struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// StartServer starts a redis-server on a free port; it is killed when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	s := &Server{t: t, port: restartablePort(t), dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the server's URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Start starts the server and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	opts, _ := goredis.ParseURL(s.URL())
	c := goredis.NewClient(opts)
	defer c.Close()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatal("redis-server did not start")
}

// Kill kills the server as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Forget deletes what a stopped server wrote to disk, so that it starts
// again empty: a Redis restarted without persistence, or a failover to a
// replica that had nothing.
func (s *Server) Forget() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("redistest: Forget needs a stopped server")
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "redis.log" {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				s.t.Fatal(err)
			}
		}
	}
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
