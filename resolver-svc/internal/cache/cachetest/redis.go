package cachetest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNoRedis means redis-server is not installed; tests that need it skip.
var ErrNoRedis = errors.New("cachetest: redis-server not found in PATH (install it, e.g. apt-get install redis-server, to run the Redis tests)")

// RedisServer is a throw-away redis-server listening on a unix socket in a
// temporary directory, with persistence off.
type RedisServer struct {
	// Socket is the unix socket path.
	Socket string

	dir    string
	cmd    *exec.Cmd
	exited chan error
}

// StartRedis starts redis-server and waits until its socket accepts
// connections (it dials the socket itself: go-redis would retry with a
// 100 ms backoff). It returns ErrNoRedis if the binary is missing. Call it
// once per test package, from TestMain, and Stop it after m.Run.
func StartRedis() (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	// Unix socket paths are limited to about 100 bytes: keep it short.
	dir, err := os.MkdirTemp("", "pgredis")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin,
		"--port", "0",
		"--unixsocket", sock,
		"--unixsocketperm", "700",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cachetest: starting redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("unix", sock, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return &RedisServer{Socket: sock, dir: dir, cmd: cmd, exited: exited}, nil
		}
		select {
		case werr := <-exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("cachetest: redis-server exited early: %v", werr)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			os.RemoveAll(dir)
			return nil, errors.New("cachetest: redis-server did not open its socket within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server (it holds nothing worth a clean shutdown) and
// removes its directory.
func (s *RedisServer) Stop() {
	if s == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	os.RemoveAll(s.dir)
}
