package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres changes passwords over a real connection.
type Postgres struct {
	// SSLMode for connections: RDS accepts TLS; tests use a local server without it.
	SSLMode string
}

var safePassword = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)

func (p Postgres) connect(ctx context.Context, c Credentials) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL()+"?sslmode="+p.SSLMode+"&connect_timeout=5")
	if err != nil {
		// pgx errors name host and user, never the password.
		return nil, fmt.Errorf("connect to %s as %s: %w", c.Host, c.Username, err)
	}
	return conn, nil
}

// SetPassword implements Database.
func (p Postgres) SetPassword(ctx context.Context, current Credentials, next string) error {
	if !safePassword.MatchString(next) {
		// ALTER USER takes no bind parameters; only drawn letters and digits go into the statement.
		return errors.New("refusing a password that is not 16-128 letters and digits")
	}
	conn, err := p.connect(ctx, current)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	stmt := fmt.Sprintf("ALTER USER %s WITH PASSWORD '%s'", pgx.Identifier{current.Username}.Sanitize(), next)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("alter the password of %s: %w", current.Username, err)
	}
	return nil
}

// Check implements Database.
func (p Postgres) Check(ctx context.Context, c Credentials) error {
	conn, err := p.connect(ctx, c)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}
