package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/hasura-auth-cdk/hasuraauth/internal/claims"
)

var (
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,19}$`)
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	// Regions whose Cognito endpoints are cognito-idp.<region>.amazonaws.com (the JWKS URL and the
	// issuer Hasura trusts): the aws partition and GovCloud. China (amazonaws.com.cn) and the ISO
	// partitions serve it under other domains.
	regionRe    = regexp.MustCompile(`^([a-z]{2}|us-gov)-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]$`)
	certArnRe   = regexp.MustCompile(`^arn:aws[a-z-]*:acm:([a-z0-9-]+):([0-9]{12}):certificate/[0-9a-f-]{36}$`)
	secretArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$`)
	guidRe      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	imageRe     = regexp.MustCompile(`^hasura/graphql-engine:v[0-9]+\.[0-9]+\.[0-9]+(-[A-Za-z0-9.]+)?$`)
	vpcIDRe     = regexp.MustCompile(`^vpc-[0-9a-f]{8}([0-9a-f]{9})?$`)
	subnetIDRe  = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	azRe        = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[1-9][a-z]$`)
	paramNameRe = regexp.MustCompile(`^/[A-Za-z0-9_.\-/]{1,1000}$`)
	// A parameter at the top level goes without the leading slash (Moped's are named so).
	flatParamRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// A Secrets Manager ARN as ECS takes it in valueFrom, with an optional JSON key; ECS would
	// read a version stage or ID after further colons, which config does not offer.
	secretRefArnRe = regexp.MustCompile(`^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6})(?::([A-Za-z0-9_.-]{1,128}))?$`)
	envVarRe       = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
	domainRe       = regexp.MustCompile(`^[a-z0-9](-?[a-z0-9]){0,62}$`)
	instanceRe     = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z0-9]+$`)
	pgVersionRe    = regexp.MustCompile(`^(1[3-7])\.[0-9]{1,2}$`)
	providerRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{3,32}$`)
	// A user pool ID is <region>_<id>; app client IDs are word characters and '+' (Cognito's
	// API patterns), 1-128 of them.
	poolIDRe   = regexp.MustCompile(`^([a-z0-9-]+)_[0-9A-Za-z]{1,40}$`)
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9_+]{1,128}$`)
	// Cognito's scope names ([\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}) without '*' and ','.
	scopeRe = regexp.MustCompile(`^[\x21\x23-\x29\x2B\x2D\x2E\x30-\x5B\x5D-\x7E]{1,256}$`)
	tierRe  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	// Hasura role names as the claims validation accepts them (internal/claims).
	roleRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
	tagKeyRe = regexp.MustCompile(`^[A-Za-z0-9 _.:/=+@-]{1,128}$`)
	// Tag values: letters, digits, spaces and _ . : / = + - @ (AWS's tag character set).
	tagValueRe = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+@-]{0,256}$`)
	// A JSON field of a secret in a {{resolve:secretsmanager:...}} reference, where ':' separates
	// the parts and '}' ends it.
	jsonFieldRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	// Environment variables of the container that the loader, the runtime (Hasura is a Haskell
	// program: GHCRTS), TLS, proxies, ECS or Hasura itself read: the event API key must not set one.
	reservedEnvVars        = []string{"PATH", "HOME", "HOSTNAME", "SHELL", "USER", "PWD", "TMPDIR", "TZ", "LANG", "GHCRTS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"}
	reservedEnvVarPrefixes = []string{"HASURA_", "LD_", "AWS_", "ECS_", "GHC", "LC_", "SSL_"}
	fargateSizes           = map[int][]int{ // cpu -> allowed memory MiB (Fargate task sizes)
		256:  {512, 1024, 2048},
		512:  {1024, 2048, 3072, 4096},
		1024: {2048, 3072, 4096, 5120, 6144, 7168, 8192},
		2048: {4096, 5120, 6144, 7168, 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384},
		4096: {8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384, 17408, 18432, 19456, 20480, 21504, 22528, 23552, 24576, 25600, 26624, 27648, 28672, 29696, 30720},
	}
	// CloudWatch Logs accepts only these retention periods.
	logRetentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

// Validate checks every field and returns all problems at once, each naming the environment and
// field and saying what is allowed.
func (e Environment) Validate() error {
	v := &validator{where: "environments." + e.Name}

	v.check(e.Account == "" || accountRe.MatchString(e.Account), "account", e.Account, "a 12-digit AWS account ID, or empty for an account-agnostic template")
	v.check(regionRe.MatchString(e.Region) && !strings.HasPrefix(e.Region, "cn-"), "region", e.Region, "an AWS region of the aws or aws-us-gov partition such as us-east-1 (China and ISO regions serve Cognito under other domains)")
	v.check(e.Name != "production" || e.Production, "production", e.Production, `true for the environment named "production" (leave the field out)`)
	v.check(oneOf(e.Removal, RemovalRetain, RemovalDestroy), "removal", e.Removal, `"retain" or "destroy"`)
	v.check(contains(logRetentions, e.LogRetentionDays), "logRetentionDays", e.LogRetentionDays, fmt.Sprintf("one of CloudWatch's retention periods %v", logRetentions))
	for _, k := range sortedKeys(e.Tags) {
		val := e.Tags[k]
		v.check(tagKeyRe.MatchString(k) && !strings.HasPrefix(strings.ToLower(k), "aws:"), "tags."+k, k, "a tag key of 1-128 allowed characters, not starting with aws:")
		v.check(!oneOf(strings.ToLower(k), "project", "environment"), "tags."+k, k, "another key: project and environment are set by the app on every resource")
		v.check(tagValueRe.MatchString(val), "tags."+k, val, "a tag value of at most 256 letters, digits, spaces and _ . : / = + - @")
	}

	c := e.Cognito
	v.check(oneOf(c.PreTokenVersion, PreTokenV1, PreTokenV2, PreTokenV3), "cognito.preTokenVersion", c.PreTokenVersion, `"V1_0", "V2_0" or "V3_0"`)
	v.check(oneOf(c.MFA, MFAOff, MFAOptional, MFARequired), "cognito.mfa", c.MFA, `"off", "optional" or "required"`)
	v.check(oneOf(c.ThreatProtection, ThreatProtectionOff, ThreatProtectionAudit, ThreatProtectionEnforced), "cognito.threatProtection", c.ThreatProtection, `"off", "audit" or "enforced"`)
	v.check(c.DomainPrefix == "" || (domainRe.MatchString(c.DomainPrefix) && !strings.Contains(c.DomainPrefix, "aws") && !strings.Contains(c.DomainPrefix, "cognito")),
		"cognito.domainPrefix", c.DomainPrefix, "lower-case letters, digits and hyphens, without 'aws' or 'cognito'")
	for i, u := range c.CallbackURLs {
		v.checkErr(fmt.Sprintf("cognito.callbackUrls[%d]", i), u, redirectURL(u, e.Production))
	}
	for i, u := range c.LogoutURLs {
		v.checkErr(fmt.Sprintf("cognito.logoutUrls[%d]", i), u, redirectURL(u, e.Production))
	}
	// Cognito takes token validities in whole minutes.
	v.duration("cognito.accessTokenValidity", c.AccessTokenValidity, 5*time.Minute, 24*time.Hour, time.Minute)
	v.duration("cognito.idTokenValidity", c.IDTokenValidity, 5*time.Minute, 24*time.Hour, time.Minute)
	if v.duration("cognito.refreshTokenValidity", c.RefreshTokenValidity, time.Hour, 10*365*24*time.Hour, time.Minute) &&
		(c.RefreshTokenValidity.Duration <= c.AccessTokenValidity.Duration || c.RefreshTokenValidity.Duration <= c.IDTokenValidity.Duration) {
		v.fail("cognito.refreshTokenValidity", c.RefreshTokenValidity.String(), "longer than the access and ID token validities")
	}
	if s := c.SSO; s != nil {
		v.check(providerRe.MatchString(s.ProviderName), "cognito.sso.providerName", s.ProviderName, "3-32 letters, digits, '_' or '-'")
		v.check(guidRe.MatchString(s.TenantID), "cognito.sso.tenantId", s.TenantID, "the Entra tenant ID (a GUID)")
		v.check(guidRe.MatchString(s.ClientID), "cognito.sso.clientId", s.ClientID, "the Entra application (client) ID (a GUID)")
		v.check(secretArnRe.MatchString(s.ClientSecretArn), "cognito.sso.clientSecretArn", s.ClientSecretArn, "the complete ARN (with its 6-character suffix) of a Secrets Manager secret holding the client secret (never the secret itself)")
		v.check(s.ClientSecretField == "" || jsonFieldRe.MatchString(s.ClientSecretField), "cognito.sso.clientSecretField", s.ClientSecretField,
			"empty, or a JSON field name of 1-128 letters, digits, '_', '.' or '-' (':' and '}' would break the deploy-time secret reference)")
		v.check(c.DomainPrefix != "", "cognito.domainPrefix", c.DomainPrefix, "set when cognito.sso is set: the Entra redirect goes to the Cognito domain")
		v.check(len(c.CallbackURLs) > 0, "cognito.callbackUrls", c.CallbackURLs, "at least one URL when cognito.sso is set")
		v.check(len(s.AllowedEmailDomains) > 0, "cognito.sso.allowedEmailDomains", s.AllowedEmailDomains, "at least one email domain federated users may have (the trigger refuses every other)")
		for i, d := range s.AllowedEmailDomains {
			_, err := claims.NormalizeEmail("x@" + d)
			v.check(err == nil && strings.ToLower(d) == d, fmt.Sprintf("cognito.sso.allowedEmailDomains[%d]", i), d, "a lower-case ASCII DNS domain such as example.com")
		}
	}

	if m := c.MigrateFrom; m != nil {
		v.check(regionRe.MatchString(m.Region) && !strings.HasPrefix(m.Region, "cn-"), "cognito.migrateFrom.region", m.Region, "the AWS region of the pool users migrate from, such as us-east-1")
		// The trigger's role is granted the old pool's ARN in the stack's partition, and one set
		// of credentials never reaches another partition: a pool there could never be read.
		if regionRe.MatchString(m.Region) && regionRe.MatchString(e.Region) {
			v.check(partition(m.Region) == partition(e.Region), "cognito.migrateFrom.region", m.Region,
				fmt.Sprintf("a region of the environment's partition %s (region %s): the trigger's role cannot reach another partition", partition(e.Region), e.Region))
		}
		id := poolIDRe.FindStringSubmatch(m.UserPoolID)
		v.check(id != nil, "cognito.migrateFrom.userPoolId", m.UserPoolID, "a user pool ID of the form <region>_<id>, e.g. us-east-1_AbCdEfGhI")
		if id != nil {
			v.check(id[1] == m.Region, "cognito.migrateFrom.userPoolId", m.UserPoolID, fmt.Sprintf("a pool of cognito.migrateFrom.region %q (a pool ID starts with its region)", m.Region))
		}
		v.check(clientIDRe.MatchString(m.ClientID), "cognito.migrateFrom.clientId", m.ClientID, "an app client ID of that pool (1-128 letters, digits, '_' or '+'), of a client without a secret that allows ALLOW_ADMIN_USER_PASSWORD_AUTH")
	}

	v.duration("claims.keyCacheTtl", e.Claims.KeyCacheTTL, 0, time.Hour, time.Millisecond)
	v.check(e.Claims.LambdaMemoryMB >= 128 && e.Claims.LambdaMemoryMB <= 10240, "claims.lambdaMemoryMb", e.Claims.LambdaMemoryMB, "128-10240")

	v.checkErr("eventApiKey.parameterName", e.EventAPIKey.ParameterName, parameterName(e.EventAPIKey.ParameterName))
	v.checkErr("eventApiKey.envVar", e.EventAPIKey.EnvVar, envVar(e.EventAPIKey.EnvVar))

	h := e.Hasura
	v.check(imageRe.MatchString(h.Image), "hasura.image", h.Image, "hasura/graphql-engine pinned to a version tag, e.g. hasura/graphql-engine:v2.48.9")
	v.check(h.MinCount >= 1 && h.MinCount <= h.DesiredCount && h.DesiredCount <= h.MaxCount && h.MaxCount <= 100,
		"hasura.desiredCount", fmt.Sprintf("min %d, desired %d, max %d", h.MinCount, h.DesiredCount, h.MaxCount), "1 <= minCount <= desiredCount <= maxCount <= 100")
	if mems, ok := fargateSizes[h.CPU]; !ok {
		v.fail("hasura.cpu", h.CPU, "a Fargate CPU size: 256, 512, 1024, 2048 or 4096")
	} else {
		v.check(contains(mems, h.MemoryMiB), "hasura.memoryMiB", h.MemoryMiB, fmt.Sprintf("a Fargate memory size for cpu %d: %v", h.CPU, mems))
	}
	v.check(oneOf(h.CPUArchitecture, CPUX86_64, CPUARM64), "hasura.cpuArchitecture", h.CPUArchitecture, `"x86_64" or "arm64"`)
	for _, name := range sortedKeys(h.Environment) {
		field := "hasura.environment." + name
		v.checkErr(field, name, extraVar(name, e.EventAPIKey.EnvVar))
		v.checkErr(field, name, plainName(name))
		// The value is not repeated in the error: it may be the very secret being refused.
		v.checkErr(field, "(value not shown)", plainValue(h.Environment[name]))
		if _, dup := h.Secrets[name]; dup {
			v.fail(field, name, "set in hasura.environment or in hasura.secrets, not both")
		}
	}
	for _, name := range sortedKeys(h.Secrets) {
		field := "hasura.secrets." + name
		v.checkErr(field, name, extraVar(name, e.EventAPIKey.EnvVar))
		v.checkErr(field, h.Secrets[name].String(), h.Secrets[name].err)
	}
	v.check(oneOf(h.JWTToken, JWTTokenID, JWTTokenAccess), "hasura.jwtToken", h.JWTToken, `"id" or "access"`)
	v.check(h.JWTToken != JWTTokenAccess || c.PreTokenVersion != PreTokenV1, "hasura.jwtToken", h.JWTToken, `"id" when cognito.preTokenVersion is V1_0 (V1_0 puts claims in ID tokens only)`)
	if h.CertificateArn != "" {
		m := certArnRe.FindStringSubmatch(h.CertificateArn)
		v.check(m != nil, "hasura.certificateArn", h.CertificateArn, "an ACM certificate ARN")
		if m != nil {
			v.check(m[1] == e.Region, "hasura.certificateArn", h.CertificateArn, "a certificate in the environment's region "+e.Region+" (an ALB only uses certificates of its own region)")
			v.check(e.Account == "" || m[2] == e.Account, "hasura.certificateArn", h.CertificateArn, "a certificate of the environment's account "+e.Account)
		}
	}

	n := e.VPC
	if n.Create {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		ok := err == nil && ipnet.IP.To4() != nil
		var ones int
		if ok {
			ones, _ = ipnet.Mask.Size()
			ok = ones >= 16 && ones <= 24 && ipnet.String() == n.CIDR
		}
		v.check(ok, "vpc.cidr", n.CIDR, "an IPv4 network in CIDR form with a prefix from /16 to /24, e.g. 10.0.0.0/16")
		v.check(n.MaxAZs >= 2 && n.MaxAZs <= 6, "vpc.maxAzs", n.MaxAZs, "2-6 (the ALB and the database need two zones)")
		if ok && n.MaxAZs >= 2 && n.MaxAZs <= 6 {
			need := subnetLayoutPrefix(n.MaxAZs)
			v.check(ones <= need, "vpc.cidr", n.CIDR, fmt.Sprintf("a /%d network or larger for %d zones: each zone gets a /%d public, a /%d app and a /%d database subnet",
				need, n.MaxAZs, PublicSubnetPrefix, AppSubnetPrefix, DatabaseSubnetPrefix))
		}
		v.check(n.NATGateways >= 1 && n.NATGateways <= n.MaxAZs, "vpc.natGateways", n.NATGateways, "1 up to vpc.maxAzs (tasks pull the image and reach AWS APIs through NAT)")
		v.check(n.VpcID == "" && len(n.PublicSubnetIDs) == 0 && len(n.PrivateSubnetIDs) == 0 && len(n.AvailabilityZones) == 0,
			"vpc.vpcId", n.VpcID, "empty when vpc.create is true (set create to false to import a VPC)")
	} else {
		v.check(vpcIDRe.MatchString(n.VpcID), "vpc.vpcId", n.VpcID, "a VPC ID (vpc-...) when vpc.create is false")
		v.check(len(n.AvailabilityZones) >= 2, "vpc.availabilityZones", n.AvailabilityZones, "at least two availability zones")
		for i, az := range n.AvailabilityZones {
			v.check(azRe.MatchString(az) && strings.HasPrefix(az, e.Region), fmt.Sprintf("vpc.availabilityZones[%d]", i), az, "an availability zone of "+e.Region)
		}
		for _, f := range []struct {
			name string
			ids  []string
		}{{"vpc.publicSubnetIds", n.PublicSubnetIDs}, {"vpc.privateSubnetIds", n.PrivateSubnetIDs}} {
			v.check(len(f.ids) == len(n.AvailabilityZones), f.name, f.ids, "one subnet per availability zone, in the same order")
			for i, id := range f.ids {
				v.check(subnetIDRe.MatchString(id), fmt.Sprintf("%s[%d]", f.name, i), id, "a subnet ID (subnet-...)")
			}
		}
	}

	d := e.Database
	if d.Create {
		v.check(instanceRe.MatchString(d.InstanceType), "database.instanceType", d.InstanceType, "an RDS instance size without the db. prefix, e.g. t4g.micro")
		v.check(pgVersionRe.MatchString(d.PostgresVersion), "database.postgresVersion", d.PostgresVersion, "a PostgreSQL major.minor version from 13 to 17, e.g. 16.13")
		v.check(d.AllocatedStorage >= 20 && d.AllocatedStorage*StorageAutoscaling <= MaxStorageGiB, "database.allocatedStorageGiB", d.AllocatedStorage,
			fmt.Sprintf("20-%d (storage may grow to %dx this, and RDS allows at most %d GiB)", MaxStorageGiB/StorageAutoscaling, StorageAutoscaling, MaxStorageGiB))
		v.check(d.BackupDays >= 1 && d.BackupDays <= 35, "database.backupRetentionDays", d.BackupDays, "1-35")
		v.check(d.ConnectionSecretArn == "", "database.connectionSecretArn", d.ConnectionSecretArn, "empty when database.create is true")
		v.check(d.URLParameterName == "", "database.urlParameterName", d.URLParameterName, "empty when database.create is true")
	} else if d.URLParameterName != "" {
		v.checkErr("database.urlParameterName", d.URLParameterName, ssmName(d.URLParameterName))
		v.check(d.ConnectionSecretArn == "", "database.connectionSecretArn", d.ConnectionSecretArn, "empty when database.urlParameterName is set (the URL comes from one place)")
	} else {
		v.check(secretArnRe.MatchString(d.ConnectionSecretArn), "database.connectionSecretArn", d.ConnectionSecretArn,
			"the complete ARN (with its 6-character suffix) of a secret holding a postgres:// URL when database.create is false (or set database.urlParameterName to an SSM SecureString holding it)")
	}

	e.validateOperations(v)
	if m := e.MachineAccess; m != nil {
		v.machineAccess(e, m)
	}

	if e.Production {
		v.check(e.Removal == RemovalRetain, "removal", e.Removal, `"retain" in production (a stack deletion must not delete users, claims or the database)`)
		v.check(h.CertificateArn != "", "hasura.certificateArn", h.CertificateArn, "an ACM certificate ARN in production (production serves HTTPS only)")
		v.check(!h.EnableConsole, "hasura.enableConsole", h.EnableConsole, "false in production (the console and dev mode expose the schema and internal errors)")
		v.check(c.MFA != MFAOff, "cognito.mfa", c.MFA, `"optional" or "required" in production`)
		v.check(c.ThreatProtection != ThreatProtectionOff, "cognito.threatProtection", c.ThreatProtection, `"audit" or "enforced" in production (compromised-credential and risk detection)`)
		v.check(!d.Create || d.BackupDays >= 7, "database.backupRetentionDays", d.BackupDays, "at least 7 in production")
	}
	return v.err()
}

// machineAccess checks the scopes, tiers and validity, and the settings machine tokens need
// elsewhere: each impossible combination names the field to change.
func (v *validator) machineAccess(e Environment, m *MachineAccess) {
	c, h := e.Cognito, e.Hasura
	v.check(c.DomainPrefix != "", "cognito.domainPrefix", c.DomainPrefix, "set when machineAccess is set: machines get their tokens from the Cognito domain's token endpoint")
	v.check(c.PreTokenVersion == PreTokenV3, "cognito.preTokenVersion", c.PreTokenVersion, `"V3_0" when machineAccess is set: only V3_0 events let the trigger put Hasura claims in client-credentials tokens`)
	v.check(h.JWTToken == JWTTokenAccess, "hasura.jwtToken", h.JWTToken, `"access" when machineAccess is set: machine tokens are access tokens (no aud), and Hasura takes one JWT config for people and machines`)

	v.check(len(m.Scopes) >= 1 && len(m.Scopes) <= MaxMachineScopes, "machineAccess.scopes", len(m.Scopes),
		fmt.Sprintf("1-%d scopes (Cognito's limit per resource server)", MaxMachineScopes))
	seen := map[string]int{}
	for i, s := range m.Scopes {
		field := fmt.Sprintf("machineAccess.scopes[%d]", i)
		v.check(scopeRe.MatchString(s), field, s, `a scope name of 1-256 printable ASCII characters without space, '"', '/', '\' (Cognito's rules), '*' (claimsctl's glob) or ',' (claimsctl's separator), e.g. "Mutation:Person:Create"`)
		if j, dup := seen[s]; dup {
			v.fail(field, s, fmt.Sprintf("unique: machineAccess.scopes[%d] declares it too", j))
		}
		seen[s] = i
	}

	v.check(len(m.Tiers) >= 1, "machineAccess.tiers", m.Tiers, "at least one tier (leave the field out for internal, readonly and syndication)")
	for _, t := range sortedKeys(m.Tiers) {
		role := m.Tiers[t]
		v.check(tierRe.MatchString(t), "machineAccess.tiers."+t, t, "a tier name of 1-32 lower-case letters, digits or hyphens, starting with a letter")
		v.check(roleRe.MatchString(role), "machineAccess.tiers."+t, role, "a Hasura role name of 1-64 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
		v.check(!strings.EqualFold(role, "admin"), "machineAccess.tiers."+t, role, "a role other than admin (Hasura's admin role bypasses every permission)")
	}
	v.duration("machineAccess.defaultValidity", m.DefaultValidity, 5*time.Minute, 24*time.Hour, time.Minute)
}

// A created database's storage grows up to StorageAutoscaling times its allocated size, within
// RDS's MaxStorageGiB for PostgreSQL on gp2/gp3.
const (
	StorageAutoscaling = 4
	MaxStorageGiB      = 65536
)

// subnetLayoutPrefix is the longest VPC prefix that holds the subnets of zones availability
// zones, allocated as CDK does: one subnet group after the other, each subnet aligned to its size.
func subnetLayoutPrefix(zones int) int {
	var next uint64
	for _, prefix := range []int{PublicSubnetPrefix, AppSubnetPrefix, DatabaseSubnetPrefix} {
		size := uint64(1) << (32 - prefix)
		for i := 0; i < zones; i++ {
			next = (next + size - 1) / size * size
			next += size
		}
	}
	for p := 32; p >= 0; p-- {
		if uint64(1)<<(32-p) >= next {
			return p
		}
	}
	return 0
}

// parameterName checks an SSM parameter name: a path, not under the prefixes AWS reserves.
func parameterName(name string) error {
	if !paramNameRe.MatchString(name) {
		return errors.New("an SSM parameter path starting with /")
	}
	first := strings.ToLower(strings.SplitN(name[1:], "/", 2)[0])
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return errors.New("a path whose first part does not start with aws or ssm (reserved by AWS)")
	}
	if strings.Count(name, "/") > 15 {
		return errors.New("a path of at most 15 levels")
	}
	return nil
}

// envVar checks the container variable the event API key is injected as.
func envVar(name string) error {
	if !envVarRe.MatchString(name) {
		return errors.New("an upper-case environment variable name")
	}
	reserved := contains(reservedEnvVars, name)
	for _, p := range reservedEnvVarPrefixes {
		reserved = reserved || strings.HasPrefix(name, p)
	}
	if reserved {
		return fmt.Errorf("a name the container does not otherwise use: not %s, nor starting with %s",
			strings.Join(reservedEnvVars, ", "), strings.Join(reservedEnvVarPrefixes, ", "))
	}
	return nil
}

// ssmName checks an SSM parameter name: a path, or a name without slashes at the top level.
func ssmName(name string) error {
	if strings.HasPrefix(name, "/") {
		return parameterName(name)
	}
	if !flatParamRe.MatchString(name) || len(name) > 1011 {
		return errors.New("an SSM parameter name: a path starting with /, or 1-1011 letters, digits, '_', '.' or '-'")
	}
	if l := strings.ToLower(name); strings.HasPrefix(l, "aws") || strings.HasPrefix(l, "ssm") {
		return errors.New("a name that does not start with aws or ssm (reserved by AWS)")
	}
	return nil
}

// extraVar checks the name of a variable hasura.environment or hasura.secrets adds: not one the
// project sets (that would replace the admin secret, the JWT config, the database or the event
// API key), nor one the loader, runtime or platform reads. HASURA_* names are allowed: Hasura's
// own settings (and Moped's HASURA_ENDPOINT) are what this is for.
func extraVar(name, eventAPIKeyVar string) error {
	if !envVarRe.MatchString(name) {
		return errors.New("an upper-case environment variable name")
	}
	if contains(HasuraProjectVars, name) || name == eventAPIKeyVar {
		return fmt.Errorf("a name the project does not set itself: not %s, nor the event API key's %s (eventApiKey.envVar)",
			strings.Join(HasuraProjectVars, ", "), eventAPIKeyVar)
	}
	reserved := contains(reservedEnvVars, name)
	for _, p := range reservedEnvVarPrefixes {
		reserved = reserved || (p != "HASURA_" && strings.HasPrefix(name, p))
	}
	if reserved {
		return errors.New("a name the container does not otherwise use: not PATH, HOME, HOSTNAME, SHELL, USER, PWD, TMPDIR, TZ, LANG, GHCRTS or the proxy variables, nor starting with LD_, AWS_, ECS_, GHC, LC_ or SSL_")
	}
	return nil
}

// secretWords are the parts of a variable name (split at '_') that say its value is secret.
var secretWords = []string{"SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD", "TOKEN", "TOKENS", "KEY", "KEYS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "PRIVATE"}

// plainName refuses a plain (template-visible) variable whose name says it holds a secret, or a
// database URL (which carries a password).
func plainName(name string) error {
	for _, part := range strings.Split(name, "_") {
		if contains(secretWords, part) {
			return fmt.Errorf("in hasura.secrets, not hasura.environment: %q says it is secret, and plain values are written into the template", part)
		}
	}
	if strings.HasSuffix(name, "DATABASE_URL") || strings.HasSuffix(name, "DB_URL") {
		return errors.New("in hasura.secrets, not hasura.environment: a database URL carries its password, and plain values are written into the template")
	}
	return nil
}

// plainValue refuses a plain value that carries a password in a URL.
func plainValue(value string) error {
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return errors.New("a value without credentials: this URL has a password, and plain values are written into the template (use hasura.secrets)")
		}
	}
	return nil
}

type validator struct {
	where string
	errs  []error
}

func (v *validator) check(ok bool, field string, got any, want string) {
	if !ok {
		v.fail(field, got, want)
	}
}

func (v *validator) fail(field string, got any, want string) {
	v.errs = append(v.errs, fmt.Errorf("config: %s.%s = %s: must be %s", v.where, field, show(got), want))
}

func (v *validator) checkErr(field string, got any, err error) {
	if err != nil {
		v.fail(field, got, err.Error())
	}
}

// duration checks a duration field and reports whether it is valid.
func (v *validator) duration(field string, d Duration, lo, hi, unit time.Duration) bool {
	if d.within(lo, hi, unit) != nil {
		want := fmt.Sprintf("a Go duration from %s to %s", lo, hi)
		if unit > time.Nanosecond {
			want += " in whole " + map[time.Duration]string{time.Minute: "minutes", time.Second: "seconds", time.Millisecond: "milliseconds"}[unit]
		}
		v.fail(field, d.String(), want)
		return false
	}
	return true
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func show(v any) string {
	switch x := v.(type) {
	case []string:
		return fmt.Sprintf("%q", x)
	case fmt.Stringer:
		return fmt.Sprintf("%q", x.String())
	}
	if reflect.ValueOf(v).Kind() == reflect.String { // also the typed enums
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%v", v)
}

// redirectURL checks an OAuth callback or logout URL. Production accepts https only: a localhost
// redirect there would hand codes to whatever listens on the user's machine.
func redirectURL(s string, production bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" {
		return errors.New("an absolute URL without a fragment")
	}
	if u.Scheme == "https" {
		return nil
	}
	if production {
		return errors.New("an https:// URL in production (http://localhost is for development environments)")
	}
	if u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1") {
		return nil
	}
	return errors.New("an https:// URL (http:// only for localhost)")
}

func oneOf[T comparable](s T, allowed ...T) bool { return contains(allowed, s) }

func contains[T comparable](list []T, x T) bool {
	for _, y := range list {
		if x == y {
			return true
		}
	}
	return false
}

// partition is the AWS partition of a region regionRe accepts (China is refused before).
func partition(region string) string {
	if strings.HasPrefix(region, "us-gov-") {
		return "aws-us-gov"
	}
	return "aws"
}
