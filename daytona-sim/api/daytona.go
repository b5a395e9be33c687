package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/previewgate/previewgate/daytona-sim/world"
)

// DaytonaConfiguration is the body of GET /api/config (ConfigurationDto).
type DaytonaConfiguration struct {
	Version                string         `json:"version"`
	OIDC                   OIDC           `json:"oidc"`
	LinkedAccountsEnabled  bool           `json:"linkedAccountsEnabled"`
	Announcements          map[string]any `json:"announcements"`
	ProxyTemplateURL       string         `json:"proxyTemplateUrl"`
	ProxyToolboxURL        string         `json:"proxyToolboxUrl"`
	DefaultSnapshot        string         `json:"defaultSnapshot"`
	DashboardURL           string         `json:"dashboardUrl"`
	MaxAutoArchiveInterval int            `json:"maxAutoArchiveInterval"`
	MaintananceMode        bool           `json:"maintananceMode"` // sic
	Environment            string         `json:"environment"`
}

// RunnerFull is the body of GET /api/runners/by-sandbox/{id} and
// GET /api/runners/{id}/full (RunnerFullDto), every key present.
type RunnerFull struct {
	ID                           string   `json:"id"`
	Domain                       string   `json:"domain"`
	APIURL                       string   `json:"apiUrl"`
	ProxyURL                     string   `json:"proxyUrl"`
	CPU                          float64  `json:"cpu"`
	Memory                       float64  `json:"memory"`
	Disk                         float64  `json:"disk"`
	GPU                          float64  `json:"gpu"`
	GPUType                      string   `json:"gpuType"`
	SandboxClass                 string   `json:"sandboxClass"`
	RunnerClass                  string   `json:"runnerClass"`
	CurrentCPUUsagePercentage    float64  `json:"currentCpuUsagePercentage"`
	CurrentMemoryUsagePercentage float64  `json:"currentMemoryUsagePercentage"`
	CurrentDiskUsagePercentage   float64  `json:"currentDiskUsagePercentage"`
	CurrentAllocatedCPU          float64  `json:"currentAllocatedCpu"`
	CurrentAllocatedMemoryGiB    float64  `json:"currentAllocatedMemoryGiB"`
	CurrentAllocatedDiskGiB      float64  `json:"currentAllocatedDiskGiB"`
	CurrentSnapshotCount         float64  `json:"currentSnapshotCount"`
	CurrentStartedSandboxes      float64  `json:"currentStartedSandboxes"`
	AvailabilityScore            float64  `json:"availabilityScore"`
	Region                       string   `json:"region"`
	Name                         string   `json:"name"`
	State                        string   `json:"state"`
	LastChecked                  string   `json:"lastChecked"`
	Unschedulable                bool     `json:"unschedulable"`
	Tags                         []string `json:"tags"`
	CreatedAt                    string   `json:"createdAt"`
	UpdatedAt                    string   `json:"updatedAt"`
	Version                      string   `json:"version"`
	APIVersion                   string   `json:"apiVersion"`
	AppVersion                   string   `json:"appVersion"`
	APIKey                       string   `json:"apiKey"`
	RegionType                   string   `json:"regionType,omitempty"`
}

// RunnerFullRequiredKeys are the keys the generated Go client
// (model_runner_full.go) requires.
var RunnerFullRequiredKeys = []string{
	"id", "cpu", "memory", "disk", "region", "name", "state", "unschedulable", "tags",
	"createdAt", "updatedAt", "version", "apiVersion", "runnerClass", "apiKey",
}

// PortPreviewURL is the body of GET /api/sandbox/{id}/ports/{port}/preview-url.
type PortPreviewURL struct {
	SandboxID string `json:"sandboxId"`
	URL       string `json:"url"`
	Token     string `json:"token"`
}

// SignedPortPreviewURL is the body of GET .../signed-preview-url.
type SignedPortPreviewURL struct {
	SandboxID string `json:"sandboxId"`
	Port      int    `json:"port"`
	Token     string `json:"token"`
	URL       string `json:"url"`
}

// OrganizationID is the one organization of the simulated world.
const OrganizationID = "00000000-0000-4000-8000-000000000001"

const (
	simEpoch = "2026-01-01T00:00:00.000Z"
	region   = "us"
)

func (s *Server) getConfig(w http.ResponseWriter, _ *http.Request, _ params) {
	writeJSON(w, http.StatusOK, DaytonaConfiguration{
		Version:                s.cfg.Version,
		OIDC:                   s.cfg.OIDC,
		Announcements:          map[string]any{},
		ProxyTemplateURL:       s.cfg.ProxyTemplateURL,
		ProxyToolboxURL:        s.cfg.ProxyToolboxURL,
		DefaultSnapshot:        "daytonaio/sandbox:0.5.0",
		DashboardURL:           "http://localhost:3000/dashboard",
		MaxAutoArchiveInterval: 43200,
		Environment:            "development",
	})
}

func sandboxNotFound(id string) string { return "Sandbox with ID " + id + " not found" }

func sandboxOrNameNotFound(id string) string { return "Sandbox with ID or name " + id + " not found" }

// isSandboxPublic: 200 true, or 404 for private and unknown sandboxes alike.
func (s *Server) isSandboxPublic(w http.ResponseWriter, r *http.Request, p params) {
	if !s.requireProxy(w, r) {
		return
	}
	if sb, ok := s.cfg.World.Sandbox(p["id"]); ok && sb.Public {
		writeText(w, http.StatusOK, "true")
		return
	}
	writeError(w, r, http.StatusNotFound, sandboxNotFound(p["id"]))
}

func (s *Server) isValidAuthToken(w http.ResponseWriter, r *http.Request, p params) {
	if !s.requireProxy(w, r) {
		return
	}
	if sb, ok := s.cfg.World.Sandbox(p["id"]); ok && sb.PreviewToken == p["token"] {
		writeText(w, http.StatusOK, "true")
		return
	}
	writeError(w, r, http.StatusNotFound, sandboxNotFound(p["id"]))
}

// hasSandboxAccess is called by the proxy with the user's own bearer token.
// Any valid API key authenticates; only a user with access gets 200.
func (s *Server) hasSandboxAccess(w http.ResponseWriter, r *http.Request, p params) {
	id := p["id"]
	pr := s.authenticate(r)
	status := http.StatusOK
	switch {
	case pr.role == roleNone:
		status = http.StatusUnauthorized
		writeError(w, r, status, MsgInvalidCredentials)
	case pr.role != roleUser || !s.cfg.World.HasAccess(id, pr.user):
		status = http.StatusNotFound
		writeError(w, r, status, sandboxNotFound(id))
	default:
		writeText(w, status, "true")
	}
	s.mu.Lock()
	s.lastAccess = &LastAccess{
		SandboxID:    id,
		User:         pr.user,
		ForwardedFor: strings.Join(r.Header.Values("X-Forwarded-For"), ", "),
		Status:       status,
		At:           isoTime(time.Now()),
	}
	s.mu.Unlock()
}

// sandboxIDFromSignedToken answers the raw sandbox id (text/html, no JSON
// quotes) or 403.
func (s *Server) sandboxIDFromSignedToken(w http.ResponseWriter, r *http.Request, p params) {
	if !s.requireProxy(w, r) {
		return
	}
	port, err := strconv.Atoi(p["port"])
	if err == nil {
		if id, ok := s.cfg.World.ResolveSignedToken(p["token"], port); ok {
			writeText(w, http.StatusOK, id)
			return
		}
	}
	writeError(w, r, http.StatusForbidden, MsgInvalidSignedToken)
}

func (s *Server) runnerBySandbox(w http.ResponseWriter, r *http.Request, p params) {
	if !s.requireProxy(w, r) {
		return
	}
	id := p["id"]
	sb, ok := s.cfg.World.Sandbox(id)
	switch {
	case !ok:
		writeError(w, r, http.StatusNotFound, sandboxNotFound(id))
	case sb.RunnerID == "":
		writeError(w, r, http.StatusNotFound, "Sandbox with ID "+id+" does not have a runner")
	default:
		rn, ok := s.cfg.World.Runner(sb.RunnerID)
		if !ok {
			writeError(w, r, http.StatusNotFound, MsgRunnerNotFound)
			return
		}
		writeJSON(w, http.StatusOK, s.runnerFullDTO(rn, ""))
	}
}

// runnerFull serves GET /runners/{id}/full. The guard runs before the UUID
// pipe in NestJS, so unknown and malformed ids both get 404.
func (s *Server) runnerFull(w http.ResponseWriter, r *http.Request, p params) {
	if !s.requireProxy(w, r) {
		return
	}
	rn, ok := s.cfg.World.Runner(p["id"])
	if !ok {
		writeError(w, r, http.StatusNotFound, MsgRunnerNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.runnerFullDTO(rn, ""))
}

func (s *Server) runnerFullDTO(rn world.Runner, regionType string) RunnerFull {
	domain := ""
	if u, err := url.Parse(rn.URL); err == nil {
		domain = u.Host
	}
	return RunnerFull{
		ID: rn.ID, Domain: domain, APIURL: rn.URL, ProxyURL: rn.URL,
		CPU: 4, Memory: 8, Disk: 50, GPUType: "none",
		SandboxClass: "container", RunnerClass: "container", // the generated client's enum
		AvailabilityScore: 100,
		Region:            region, Name: rn.Name, State: "ready",
		LastChecked: isoTime(time.Now()), Tags: []string{},
		CreatedAt: simEpoch, UpdatedAt: simEpoch,
		Version: "0", APIVersion: "0", AppVersion: s.cfg.Version,
		APIKey: rn.APIKey, RegionType: regionType,
	}
}

// updateLastActivity answers 201 for any id when called by the proxy (the
// API only writes a Redis sorted set), and for sandboxes the user may use.
func (s *Server) updateLastActivity(w http.ResponseWriter, r *http.Request, p params) {
	pr := s.authenticate(r)
	switch pr.role {
	case roleNone:
		writeError(w, r, http.StatusUnauthorized, MsgInvalidCredentials)
		return
	case roleRunner:
		writeError(w, r, http.StatusForbidden, MsgInvalidAuthContext)
		return
	case roleUser:
		if !s.cfg.World.HasAccess(p["id"], pr.user) {
			writeError(w, r, http.StatusNotFound, sandboxOrNameNotFound(p["id"]))
			return
		}
	}
	s.cfg.World.TouchActivity(p["id"])
	writeEmpty(w, http.StatusCreated)
}

// userSandbox authenticates a user and finds a sandbox they may use
// (OrganizationAuthContextGuard + SandboxAccessGuard).
func (s *Server) userSandbox(w http.ResponseWriter, r *http.Request, id string) (world.Sandbox, bool) {
	user, ok := s.requireUser(w, r)
	if !ok {
		return world.Sandbox{}, false
	}
	if !s.cfg.World.HasAccess(id, user) {
		writeError(w, r, http.StatusNotFound, sandboxOrNameNotFound(id))
		return world.Sandbox{}, false
	}
	sb, _ := s.cfg.World.Sandbox(id)
	return sb, true
}

func parsePort(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= 65535
}

func (s *Server) previewURL(port int, idOrToken string) string {
	return strings.NewReplacer("{{PORT}}", strconv.Itoa(port), "{{sandboxId}}", idOrToken).Replace(s.cfg.ProxyTemplateURL)
}

func (s *Server) portPreviewURL(w http.ResponseWriter, r *http.Request, p params) {
	sb, ok := s.userSandbox(w, r, p["id"])
	if !ok {
		return
	}
	port, ok := parsePort(p["port"])
	if !ok {
		writeError(w, r, http.StatusBadRequest, MsgInvalidPort)
		return
	}
	writeJSON(w, http.StatusOK, PortPreviewURL{SandboxID: sb.ID, URL: s.previewURL(port, sb.ID), Token: sb.PreviewToken})
}

func (s *Server) signedPortPreviewURL(w http.ResponseWriter, r *http.Request, p params) {
	sb, ok := s.userSandbox(w, r, p["id"])
	if !ok {
		return
	}
	port, ok := parsePort(p["port"])
	if !ok {
		writeError(w, r, http.StatusBadRequest, MsgInvalidPort)
		return
	}
	expires := 60
	if v := r.URL.Query().Get("expiresInSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 86400 {
			writeError(w, r, http.StatusBadRequest, MsgInvalidExpiry)
			return
		}
		expires = n
	}
	token := s.cfg.World.MintSignedToken(sb.ID, port, time.Duration(expires)*time.Second)
	writeJSON(w, http.StatusOK, SignedPortPreviewURL{SandboxID: sb.ID, Port: port, Token: token, URL: s.previewURL(port, token)})
}

func (s *Server) expireSignedPreviewURL(w http.ResponseWriter, r *http.Request, p params) {
	if _, ok := s.userSandbox(w, r, p["id"]); !ok {
		return
	}
	if port, err := strconv.Atoi(p["port"]); err == nil {
		s.cfg.World.ExpireSignedToken(p["token"], port)
	}
	writeEmpty(w, http.StatusCreated)
}

// SandboxDTO is the API's Sandbox JSON (the keys the generated Go client
// requires, plus state and runnerId).
type SandboxDTO struct {
	ID              string            `json:"id"`
	OrganizationID  string            `json:"organizationId"`
	Name            string            `json:"name"`
	User            string            `json:"user"`
	Env             map[string]string `json:"env"`
	Labels          map[string]string `json:"labels"`
	Public          bool              `json:"public"`
	NetworkBlockAll bool              `json:"networkBlockAll"`
	Target          string            `json:"target"`
	CPU             float64           `json:"cpu"`
	GPU             float64           `json:"gpu"`
	Memory          float64           `json:"memory"`
	Disk            float64           `json:"disk"`
	State           string            `json:"state"`
	RunnerID        string            `json:"runnerId,omitempty"`
	ToolboxProxyURL string            `json:"toolboxProxyUrl"`
	BuildInfo       *BuildInfo        `json:"buildInfo,omitempty"`
	CreatedAt       string            `json:"createdAt"`
	UpdatedAt       string            `json:"updatedAt"`
}

// BuildInfo is a built sandbox's build (BuildInfoDto).
type BuildInfo struct {
	SnapshotRef string `json:"snapshotRef"`
	CreatedAt   string `json:"createdAt"`
	UpdatedAt   string `json:"updatedAt"`
}

// SnapshotDTO is the API's SnapshotDto (the keys the proxy reads and the
// generated client's required ones).
type SnapshotDTO struct {
	ID              string  `json:"id"`
	OrganizationID  string  `json:"organizationId"`
	General         bool    `json:"general"`
	Name            string  `json:"name"`
	ImageName       string  `json:"imageName"`
	State           string  `json:"state"`
	Size            float64 `json:"size"`
	Entrypoint      []any   `json:"entrypoint"`
	CPU             float64 `json:"cpu"`
	GPU             float64 `json:"gpu"`
	Mem             float64 `json:"mem"`
	Disk            float64 `json:"disk"`
	ErrorReason     *string `json:"errorReason"`
	Ref             string  `json:"ref"`
	InitialRunnerID string  `json:"initialRunnerId"`
	CreatedAt       string  `json:"createdAt"`
	UpdatedAt       string  `json:"updatedAt"`
	LastUsedAt      *string `json:"lastUsedAt"`
}

func (s *Server) sandboxDTO(sb world.Sandbox) SandboxDTO {
	dto := SandboxDTO{
		ID: sb.ID, OrganizationID: OrganizationID, Name: sb.ID, User: "daytona",
		Env: map[string]string{}, Labels: map[string]string{},
		Public: sb.Public, Target: region, CPU: 1, Memory: 1, Disk: 3,
		State: string(sb.State), RunnerID: sb.RunnerID,
		ToolboxProxyURL: s.cfg.ProxyToolboxURL,
		CreatedAt:       isoTime(sb.CreatedAt), UpdatedAt: isoTime(time.Now()),
	}
	if sb.BuildRef != "" {
		dto.BuildInfo = &BuildInfo{SnapshotRef: sb.BuildRef, CreatedAt: isoTime(sb.CreatedAt), UpdatedAt: isoTime(sb.CreatedAt)}
	}
	return dto
}

// getSandbox is GET /sandbox/{sandboxIdOrName} for a user with access, or
// for the proxy (ProxyAuthContextGuard), which gets no buildInfo (the API
// loads it only for users).
func (s *Server) getSandbox(w http.ResponseWriter, r *http.Request, p params) {
	if s.authenticate(r).role == roleProxy {
		sb, ok := s.cfg.World.Sandbox(p["id"])
		if !ok {
			writeError(w, r, http.StatusNotFound, sandboxOrNameNotFound(p["id"]))
			return
		}
		dto := s.sandboxDTO(sb)
		dto.BuildInfo = nil
		writeJSON(w, http.StatusOK, dto)
		return
	}
	sb, ok := s.userSandbox(w, r, p["id"])
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.sandboxDTO(sb))
}

// getSnapshot is GET /snapshots/{id} for a user of its organization.
func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request, p params) {
	user, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	sn, ok := s.cfg.World.Snapshot(p["id"])
	if !ok || !slices.Contains(sn.Users, user) {
		writeError(w, r, http.StatusNotFound, "Snapshot with ID "+p["id"]+" not found")
		return
	}
	writeJSON(w, http.StatusOK, SnapshotDTO{
		ID: sn.ID, OrganizationID: OrganizationID, Name: sn.ID, ImageName: sn.Ref, State: "active",
		Entrypoint: []any{}, CPU: 1, Mem: 1, Disk: 3, Ref: sn.Ref, InitialRunnerID: sn.RunnerID,
		CreatedAt: simEpoch, UpdatedAt: simEpoch,
	})
}

// updatePublicStatus: "true" sets public, anything else private (NestJS's
// boolean param conversion). 201 with the sandbox.
func (s *Server) updatePublicStatus(w http.ResponseWriter, r *http.Request, p params) {
	if _, ok := s.userSandbox(w, r, p["id"]); !ok {
		return
	}
	public := p["isPublic"] == "true"
	sb, err := s.cfg.World.UpdateSandbox(p["id"], world.SandboxPatch{Public: &public})
	if err != nil { // deleted meanwhile
		writeError(w, r, http.StatusNotFound, sandboxOrNameNotFound(p["id"]))
		return
	}
	s.log.Info("sandbox public status changed", "sandbox", sb.ID, "public", public)
	writeJSON(w, http.StatusCreated, s.sandboxDTO(sb))
}
