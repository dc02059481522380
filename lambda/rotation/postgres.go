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

// rotationLock serializes role changes of concurrent rotations (Secrets Manager may run a step
// twice at once) with a transaction-level advisory lock.
const rotationLock = 0x68617375 // "hasu"

func (p Postgres) connect(ctx context.Context, l Login) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, l.URL()+"?sslmode="+p.SSLMode+"&connect_timeout=5")
	if err != nil {
		// pgx errors name host and user, never the password.
		return nil, fmt.Errorf("connect to %s as %s: %w", l.Host, l.User, err)
	}
	return conn, nil
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// SetPassword implements Database. Logged in as the master user (RDS's, with CREATEROLE), it
// makes sure, in one transaction:
//   - owner exists (NOLOGIN) and both the master and user are members of it, acting as it by
//     default (ALTER ROLE ... SET role), so whatever either login creates is owner's and usable
//     by the other;
//   - what the master owns in this database belongs to owner (REASSIGN OWNED; a no-op after the
//     first rotation unless someone created objects as the master with SET ROLE NONE);
//   - user exists with LOGIN and the password next.
//
// Every statement is idempotent, so a retry after any failure converges on the same state.
func (p Postgres) SetPassword(ctx context.Context, as Login, user, next, owner string) error {
	if !safePassword.MatchString(next) {
		// ALTER ROLE takes no bind parameters; only drawn letters and digits go into the statement.
		return errors.New("refusing a password that is not 16-128 letters and digits")
	}
	conn, err := p.connect(ctx, as)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	var exists bool
	steps := []struct {
		what string
		run  func() error
	}{
		// Act as the master itself, not as the owner role its sessions default to.
		{"reset the session role", exec(ctx, tx, "SET LOCAL ROLE NONE")},
		// A running Hasura holds locks REASSIGN must wait for: give up (and be retried) rather
		// than queue its queries behind ours for long.
		{"set the lock timeout", exec(ctx, tx, "SET LOCAL lock_timeout = '5s'")},
		{"take the rotation lock", exec(ctx, tx, "SELECT pg_advisory_xact_lock($1)", rotationLock)},
		{"create the owner role " + owner, func() error {
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", owner).Scan(&exists); err != nil || exists {
				return err
			}
			return exec(ctx, tx, "CREATE ROLE "+ident(owner)+" NOLOGIN")()
		}},
		{"create or update the login " + user, func() error {
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", user).Scan(&exists); err != nil {
				return err
			}
			// ALTER ROLE cannot take a parameter: the literal is the password's SCRAM verifier
			// (base64 and "$:" only), so no statement, and no server log of a failed one, holds
			// the password itself.
			verifier, err := scramVerifier(next)
			if err != nil {
				return err
			}
			stmt := "ALTER ROLE " + ident(user) + " WITH LOGIN PASSWORD '" + verifier + "'"
			switch {
			case !exists:
				stmt = "CREATE ROLE " + ident(user) + " WITH LOGIN PASSWORD '" + verifier + "'"
			case user == as.User:
				// Its own password is all PostgreSQL 16 lets a role change about itself.
				stmt = "ALTER ROLE " + ident(user) + " WITH PASSWORD '" + verifier + "'"
			}
			return exec(ctx, tx, stmt)()
		}},
		{"grant " + owner + " to " + as.User + " and " + user, func() error {
			for _, m := range []string{as.User, user} {
				var member bool
				if err := tx.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'USAGE')", m, owner).Scan(&member); err != nil {
					return err
				}
				if !member {
					if err := exec(ctx, tx, "GRANT "+ident(owner)+" TO "+ident(m))(); err != nil {
						return err
					}
				}
			}
			return nil
		}},
		{"make " + owner + " the default role of both logins", func() error {
			for _, m := range []string{as.User, user} {
				if err := exec(ctx, tx, "ALTER ROLE "+ident(m)+" SET role = "+ident(owner))(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"give " + as.User + "'s objects to " + owner, exec(ctx, tx, "REASSIGN OWNED BY "+ident(as.User)+" TO "+ident(owner))},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			return fmt.Errorf("as %s: %s: %w", as.User, s.what, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("as %s: commit the role changes: %w", as.User, err)
	}
	return nil
}

func exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) func() error {
	return func() error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}
}

// Check implements Database.
func (p Postgres) Check(ctx context.Context, l Login, role string) error {
	conn, err := p.connect(ctx, l)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var current string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&current); err != nil {
		return fmt.Errorf("query as %s: %w", l.User, err)
	}
	if role != "" && current != role {
		return fmt.Errorf("%s logs in but acts as %s, not as the owner role %s", l.User, current, role)
	}
	return nil
}
