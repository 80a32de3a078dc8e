//! Checks of `deploy/`: every Kustomize overlay rendered by `kubectl kustomize`, the compose
//! file with its Prometheus and Grafana files, the dashboard, and the Dockerfile.
//!
//! Failures say which file and which object is wrong, so a broken manifest can be fixed
//! from the message alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    io::ErrorKind,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// Environment variables that carry secrets: never a literal value in a manifest.
const SECRET_VARS: [&str; 4] = [
    "HOP_ADMIN_API_KEY",
    "HOP_INTERNAL_TOKEN",
    "HOP_RELAY_TOKEN",
    "HOP_DB_DSN",
];
const DATA_PLANE: &str = "hopgate-data-plane";
const CONTROL_PLANE: &str = "hopgate-control-plane";
/// The Secret the base refers to (created out of band in production).
const SECRET_NAME: &str = "hopgate-secrets";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// Every YAML document in `text` (empty ones dropped), with `<<` merge keys applied, as
/// JSON values (easier to walk).
fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text)
        .unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}"));
    documents
        .into_iter()
        .filter(|json| !json.is_null())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------

/// The overlay directories under deploy/kubernetes/overlays (so a new one is checked too).
fn overlays() -> Vec<String> {
    let dir = repo_root().join("deploy/kubernetes/overlays");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.path().join("kustomization.yaml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in ["dev", "production"] {
        assert!(
            names.iter().any(|n| n == expected),
            "overlay {expected} is missing"
        );
    }
    names
}

/// `kubectl kustomize deploy/kubernetes/overlays/NAME`, parsed. A missing kubectl fails
/// the test: CI must render every overlay.
fn render(overlay: &str) -> Vec<Value> {
    let dir = repo_root().join("deploy/kubernetes/overlays").join(overlay);
    let output = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "kubectl is not installed, so the Kustomize overlays can't be rendered. Install a \
             kubectl with kustomize v5 (kubectl >= 1.27; Debian bookworm's kubernetes-client \
             1.20 is too old) — deploy/README.md, \"Checks\""
        ),
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        output.status.success(),
        "`kubectl kustomize {}` failed ({}):\n{}",
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("kubectl prints UTF-8");
    yaml_documents(&text, &format!("overlay {overlay}"))
}

/// The rendered objects of one overlay.
struct Manifests {
    overlay: String,
    objects: Vec<Value>,
}

impl Manifests {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn get(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} named {name}", self.overlay))
    }

    fn deployment(&self, name: &str) -> &Value {
        self.get("Deployment", name)
    }

    /// The first container of a Deployment.
    fn container<'a>(&'a self, deployment: &'a Value) -> &'a Value {
        &deployment["spec"]["template"]["spec"]["containers"][0]
    }
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

fn array<'a>(value: &'a Value, what: &str) -> &'a Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a list: {value}"))
}

/// A container's env entry by name.
fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The literal value of an env entry (panics if it is missing or not a literal).
fn env_value<'a>(container: &'a Value, name: &str) -> &'a str {
    let entry = env(container, name)
        .unwrap_or_else(|| panic!("container {} has no {name}", container["name"]));
    str_of(&entry["value"], &format!("{name} of {}", container["name"]))
}

/// The port of a `host:port` listen address.
fn listen_port(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("'{address}' is not host:port"))
}

/// Resolves a probe's or a Service's port (a number or a container port's name) against
/// a container's ports, for `protocol`: the container port number.
fn container_port(container: &Value, port: &Value, protocol: &str) -> u16 {
    let ports = array(&container["ports"], "container ports");
    let matches = |p: &&Value| {
        let same_protocol = p["protocol"].as_str().unwrap_or("TCP") == protocol;
        same_protocol
            && match port {
                Value::String(name) => p["name"] == name.as_str(),
                Value::Number(n) => p["containerPort"].as_u64() == n.as_u64(),
                _ => false,
            }
    };
    let found = ports.iter().find(matches).unwrap_or_else(|| {
        panic!(
            "no {protocol} container port {port} in {}",
            container["name"]
        )
    });
    u16::try_from(found["containerPort"].as_u64().expect("a port number")).expect("a port")
}

/// The pod-level and container-level security settings of every container run as
/// non-root, without privilege escalation, on a read-only root filesystem.
fn check_hardening(m: &Manifests, deployment: &Value) {
    let name = deployment["metadata"]["name"].clone();
    let pod = &deployment["spec"]["template"]["spec"];
    let pod_security = &pod["securityContext"];
    let containers = array(&pod["containers"], "containers")
        .iter()
        .chain(pod["initContainers"].as_array().into_iter().flatten());
    for container in containers {
        let security = &container["securityContext"];
        let what = format!("{}: {name}/{}", m.overlay, container["name"]);
        let non_root = security["runAsNonRoot"]
            .as_bool()
            .or_else(|| pod_security["runAsNonRoot"].as_bool());
        assert_eq!(non_root, Some(true), "{what}: runAsNonRoot must be true");
        let user = security["runAsUser"]
            .as_u64()
            .or_else(|| pod_security["runAsUser"].as_u64());
        assert!(
            user.is_some_and(|u| u != 0),
            "{what}: runAsUser must be set and not 0 (the image's user is 10001)"
        );
        assert_eq!(
            security["allowPrivilegeEscalation"], false,
            "{what}: allowPrivilegeEscalation must be false"
        );
        assert_eq!(
            security["readOnlyRootFilesystem"], true,
            "{what}: readOnlyRootFilesystem must be true"
        );
        let drops = security["capabilities"]["drop"].as_array();
        assert!(
            drops.is_some_and(|d| d.iter().any(|c| c == "ALL")),
            "{what}: capabilities must drop ALL"
        );
    }
}

/// Secrets only through `secretKeyRef`, to a Secret that exists in the render or is the
/// one created out of band; no literal value anywhere.
fn check_secrets(m: &Manifests) {
    let secrets: BTreeMap<&str, &Value> = m
        .of_kind("Secret")
        .into_iter()
        .map(|s| (str_of(&s["metadata"]["name"], "Secret name"), s))
        .collect();
    for deployment in m.of_kind("Deployment") {
        for container in array(
            &deployment["spec"]["template"]["spec"]["containers"],
            "containers",
        ) {
            let what = format!(
                "{}: {}/{}",
                m.overlay, deployment["metadata"]["name"], container["name"]
            );
            for entry in container["env"].as_array().into_iter().flatten() {
                let name = str_of(&entry["name"], "env name");
                if !SECRET_VARS.contains(&name) {
                    continue;
                }
                assert!(
                    entry.get("value").is_none(),
                    "{what}: {name} has a literal value; it must come from a secretKeyRef"
                );
                let reference = &entry["valueFrom"]["secretKeyRef"];
                let secret = str_of(&reference["name"], &format!("{what}: {name} secretKeyRef"));
                let key = str_of(
                    &reference["key"],
                    &format!("{what}: {name} secretKeyRef key"),
                );
                match secrets.get(secret) {
                    // Generated in this overlay: the reference must have been rewritten to
                    // its hashed name, and the key must exist.
                    Some(object) => assert!(
                        object["data"].get(key).is_some()
                            || object["stringData"].get(key).is_some(),
                        "{what}: Secret {secret} has no key {key}"
                    ),
                    None => {
                        assert_eq!(
                            secret, SECRET_NAME,
                            "{what}: {name} refers to Secret {secret}, which is neither in the \
                             render nor the documented {SECRET_NAME}"
                        );
                        assert!(
                            secrets.is_empty(),
                            "{what}: {name} refers to {secret}, but the overlay generates \
                             {:?}: the reference wasn't rewritten (namespace mismatch?)",
                            secrets.keys()
                        );
                    }
                }
            }
            assert!(
                container.get("envFrom").is_none(),
                "{what}: envFrom would hide where settings come from; list them in env"
            );
        }
    }
    for (name, secret) in &secrets {
        assert!(
            secret.get("stringData").is_none(),
            "{}: Secret {name} has stringData",
            m.overlay
        );
    }
}

/// Every check of one rendered overlay.
fn check_overlay(m: &Manifests) {
    check_kinds_and_namespace(m);
    check_data_plane_pod(m);
    check_data_plane_services(m);
    check_autoscaling(m);
    check_control_plane(m);
    for deployment in m.of_kind("Deployment") {
        check_hardening(m, deployment);
    }
    check_secrets(m);
}

/// The kinds an overlay needs, two Deployments, and every object in the one Namespace.
fn check_kinds_and_namespace(m: &Manifests) {
    let overlay = &m.overlay;
    let kinds: BTreeSet<&str> = m
        .objects
        .iter()
        .map(|o| str_of(&o["kind"], "kind"))
        .collect();
    for kind in [
        "Namespace",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(
            kinds.contains(kind),
            "{overlay}: no {kind} (kinds: {kinds:?})"
        );
    }
    assert_eq!(
        m.of_kind("Deployment").len(),
        2,
        "{overlay}: expected the control-plane and data-plane Deployments"
    );
    let namespace = str_of(&m.of_kind("Namespace")[0]["metadata"]["name"], "namespace");
    for object in m.objects.iter().filter(|o| o["kind"] != "Namespace") {
        assert_eq!(
            object["metadata"]["namespace"], namespace,
            "{overlay}: {} {} is not in namespace {namespace}",
            object["kind"], object["metadata"]["name"]
        );
    }
}

/// The data-plane's probes and metrics listener, drain time, state dir, Prometheus
/// annotations and pod id.
fn check_data_plane_pod(m: &Manifests) {
    let overlay = &m.overlay;
    let dp = m.deployment(DATA_PLANE);
    let dp_pod = &dp["spec"]["template"]["spec"];
    let dpc = m.container(dp);
    let metrics_port = listen_port(env_value(dpc, "HOP_METRICS_LISTEN"));
    assert!(
        env_value(dpc, "HOP_METRICS_LISTEN").starts_with("0.0.0.0:"),
        "{overlay}: the data-plane's HOP_METRICS_LISTEN must listen on all interfaces, or \
         the kubelet's probes can't reach it"
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &dpc[probe]["httpGet"];
        assert_eq!(get["path"], path, "{overlay}: data-plane {probe} path");
        let port = container_port(dpc, &get["port"], "TCP");
        assert_eq!(
            port, metrics_port,
            "{overlay}: data-plane {probe} port must be the metrics port (HOP_METRICS_LISTEN)"
        );
    }
    let grace = dp_pod["terminationGracePeriodSeconds"].as_u64();
    assert!(
        grace.is_some_and(|g| g >= 15),
        "{overlay}: data-plane terminationGracePeriodSeconds must leave time for the drain \
         (>= 15 s), got {grace:?}"
    );
    let state_dir = env_value(dpc, "HOP_SERVER_STATE_DIR");
    let mounts = array(&dpc["volumeMounts"], "data-plane volumeMounts");
    let state_mount = mounts
        .iter()
        .find(|mount| mount["mountPath"] == state_dir)
        .unwrap_or_else(|| {
            panic!("{overlay}: HOP_SERVER_STATE_DIR {state_dir} is not a mounted volume")
        });
    assert!(
        state_mount["readOnly"] != true,
        "{overlay}: the state dir must be writable"
    );
    let annotations = &dp["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true", "{overlay}");
    assert_eq!(
        annotations["prometheus.io/port"],
        metrics_port.to_string(),
        "{overlay}: prometheus.io/port must be the metrics port"
    );
    let pod_id = &env(dpc, "HOP_POD_ID").expect("HOP_POD_ID")["valueFrom"]["fieldRef"];
    assert_eq!(
        pod_id["fieldPath"], "metadata.name",
        "{overlay}: HOP_POD_ID"
    );
}

/// The data-plane Service(s): TCP 80, TCP 443, UDP 443 onto the right listeners.
fn check_data_plane_services(m: &Manifests) {
    let overlay = &m.overlay;
    let dp = m.deployment(DATA_PLANE);
    let dpc = m.container(dp);
    let selector_labels = &dp["spec"]["template"]["metadata"]["labels"];
    let selects_data_plane = |service: &&Value| {
        service["spec"]["selector"]
            .as_object()
            .is_some_and(|sel| sel.iter().all(|(k, v)| &selector_labels[k] == v))
    };
    let mut exposed = BTreeMap::new();
    for service in m.of_kind("Service").into_iter().filter(selects_data_plane) {
        for port in array(&service["spec"]["ports"], "Service ports") {
            let protocol = port["protocol"].as_str().unwrap_or("TCP");
            let number = port["port"].as_u64().expect("a Service port number");
            let target = if port["targetPort"].is_null() {
                &port["port"]
            } else {
                &port["targetPort"]
            };
            exposed.insert(
                (protocol.to_owned(), number),
                container_port(dpc, target, protocol),
            );
        }
    }
    let wanted = [
        ("TCP", 80, "HOP_SERVER_HTTP_LISTEN"),
        ("TCP", 443, "HOP_SERVER_HTTPS_LISTEN"),
        ("UDP", 443, "HOP_SERVER_DTLS_LISTEN"),
    ];
    for (protocol, port, setting) in wanted {
        let target = exposed
            .get(&(protocol.to_owned(), port))
            .unwrap_or_else(|| {
                panic!("{overlay}: no Service exposes {protocol} {port} for the data-plane")
            });
        assert_eq!(
            *target,
            listen_port(env_value(dpc, setting)),
            "{overlay}: {protocol} {port} must reach the data-plane's {setting}"
        );
    }
}

/// The data-plane's HPA (on CPU, around its replicas) and PDB (on its pods).
fn check_autoscaling(m: &Manifests) {
    let overlay = &m.overlay;
    let dp = m.deployment(DATA_PLANE);
    let dpc = m.container(dp);
    let hpa = m.get("HorizontalPodAutoscaler", DATA_PLANE);
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], DATA_PLANE);
    let min = hpa["spec"]["minReplicas"].as_u64().expect("minReplicas");
    let max = hpa["spec"]["maxReplicas"].as_u64().expect("maxReplicas");
    let replicas = dp["spec"]["replicas"]
        .as_u64()
        .expect("data-plane replicas");
    assert!(
        min <= replicas && replicas <= max,
        "{overlay}: data-plane replicas {replicas} outside the HPA's {min}..={max}"
    );
    let metrics = array(&hpa["spec"]["metrics"], "HPA metrics");
    assert!(
        metrics.iter().any(|x| x["resource"]["name"] == "cpu"),
        "{overlay}: the HPA scales on CPU"
    );
    assert!(
        dpc["resources"]["requests"]["cpu"].is_string(),
        "{overlay}: a CPU request is needed for the HPA's utilization"
    );
    let pdb = m.get("PodDisruptionBudget", DATA_PLANE);
    assert_eq!(
        &pdb["spec"]["selector"]["matchLabels"], &dp["spec"]["selector"]["matchLabels"],
        "{overlay}: the PDB must select the data-plane pods"
    );
}

/// The control-plane: one replica, Recreate, its Service, the pods' URL, its probes.
fn check_control_plane(m: &Manifests) {
    let overlay = &m.overlay;
    let dpc = m.container(m.deployment(DATA_PLANE));
    let cp = m.deployment(CONTROL_PLANE);
    let cpc = m.container(cp);
    assert_eq!(cp["spec"]["replicas"], 1, "{overlay}: one control-plane");
    assert_eq!(
        cp["spec"]["strategy"]["type"], "Recreate",
        "{overlay}: control-plane strategy"
    );
    let cp_service = m.get("Service", CONTROL_PLANE);
    let internal_port = listen_port(env_value(cpc, "HOP_INTERNAL_LISTEN"));
    let admin_port = listen_port(env_value(cpc, "HOP_ADMIN_LISTEN"));
    let service_port_to = |container_port_number: u16| {
        array(&cp_service["spec"]["ports"], "control-plane Service ports")
            .iter()
            .find(|p| container_port(cpc, &p["targetPort"], "TCP") == container_port_number)
            .and_then(|p| p["port"].as_u64())
    };
    assert!(
        service_port_to(admin_port).is_some(),
        "{overlay}: the control-plane Service doesn't expose the admin port {admin_port}"
    );
    let internal_service_port = service_port_to(internal_port).unwrap_or_else(|| {
        panic!("{overlay}: the control-plane Service doesn't expose the internal port")
    });
    // http:// or https:// (with HOP_INTERNAL_TLS_CERT, checked for production).
    let url = env_value(dpc, "HOP_CONTROL_PLANE_URL");
    let scheme = if env(cpc, "HOP_INTERNAL_TLS_CERT").is_some() {
        "https"
    } else {
        "http"
    };
    assert_eq!(
        url,
        format!("{scheme}://{CONTROL_PLANE}:{internal_service_port}"),
        "{overlay}: the pods must subscribe to the control-plane Service's internal port"
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(
            cpc[probe]["httpGet"]["path"], path,
            "{overlay}: control-plane {probe}"
        );
    }
}

#[test]
fn every_overlay_renders_with_probes_ports_and_secrets_wired() {
    for overlay in overlays() {
        let manifests = Manifests {
            objects: render(&overlay),
            overlay,
        };
        check_overlay(&manifests);
    }
}

#[test]
fn production_overlay_is_highly_available_and_not_in_debug_mode() {
    let m = Manifests {
        objects: render("production"),
        overlay: "production".into(),
    };
    let dp = m.deployment(DATA_PLANE);
    let replicas = dp["spec"]["replicas"].as_u64().expect("replicas");
    assert!(
        replicas >= 2,
        "production: {replicas} data-plane replica(s)"
    );
    assert_eq!(
        env_value(m.container(dp), "HOP_SERVER_DEBUG"),
        "false",
        "production: debug mode must be off"
    );
    // Several replicas work because pods relay to the one holding the agent's session:
    // the relay listener is a container port (the control-plane pairs it with the pod's
    // IP), and the pods authenticate each other with the relay token.
    let container = m.container(dp);
    let relay = listen_port(env_value(container, "HOP_SERVER_RELAY_LISTEN"));
    assert_eq!(container_port(container, &Value::from(relay), "TCP"), relay);
    assert!(
        env(container, "HOP_SERVER_RELAY_URL").is_none(),
        "production: HOP_SERVER_RELAY_URL is no longer a setting"
    );
    assert!(
        env(container, "HOP_RELAY_TOKEN").is_some(),
        "production: HOP_RELAY_TOKEN"
    );
    check_internal_tls(&m);
    let hpa = m.get("HorizontalPodAutoscaler", DATA_PLANE);
    assert!(hpa["spec"]["minReplicas"].as_u64() >= Some(2));
    let pdb = m.get("PodDisruptionBudget", DATA_PLANE);
    let min_available = pdb["spec"]["minAvailable"].as_u64();
    assert!(
        min_available.is_some_and(|n| n >= 1 && n < replicas),
        "production: PDB minAvailable {min_available:?} must be at least 1 and below the \
         {replicas} replicas (else no node can ever be drained)"
    );
    let anti = &dp["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
    assert!(
        anti.is_object(),
        "production: data-plane pods need anti-affinity"
    );
    assert!(
        m.of_kind("Secret").is_empty(),
        "production must not render a Secret (secret values are created out of band)"
    );
    assert!(
        dp["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .is_some_and(|image| image.contains(':') && !image.ends_with(":latest")),
        "production: pin the image tag"
    );
}

/// A file setting's path lies in a volume mounted from a Secret; the Secret's name.
fn secret_file<'a>(m: &'a Manifests, deployment: &'a Value, var: &str) -> &'a str {
    let container = m.container(deployment);
    let path = env_value(container, var);
    let mount = array(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|mount| path.starts_with(&format!("{}/", str_of(&mount["mountPath"], "mountPath"))))
        .unwrap_or_else(|| panic!("{}: {var}={path} is in no mounted volume", m.overlay));
    let volumes = array(
        &deployment["spec"]["template"]["spec"]["volumes"],
        "volumes",
    );
    let volume = volumes
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("{}: no volume {}", m.overlay, mount["name"]));
    let secret = str_of(
        &volume["secret"]["secretName"],
        &format!("{}: {var}'s volume must be a Secret", m.overlay),
    );
    let file = path.rsplit('/').next().unwrap_or(path);
    let items = volume["secret"]["items"].as_array();
    assert!(
        items.is_none_or(|items| items.iter().any(|item| item["path"] == file)),
        "{}: Secret {secret} projects no {file} for {var}",
        m.overlay
    );
    secret
}

/// Production: HTTPS on the table stream and on the relay, keys from Secrets as files, and
/// the pods hold the control-plane's CA but never its key.
fn check_internal_tls(m: &Manifests) {
    let cp = m.deployment(CONTROL_PLANE);
    let dp = m.deployment(DATA_PLANE);
    let internal_tls = secret_file(m, cp, "HOP_INTERNAL_TLS_CERT");
    assert_eq!(secret_file(m, cp, "HOP_INTERNAL_TLS_KEY"), internal_tls);
    let dpc = m.container(dp);
    assert!(
        env_value(dpc, "HOP_CONTROL_PLANE_URL").starts_with("https://"),
        "production: the pods subscribe over HTTPS"
    );
    assert_eq!(secret_file(m, dp, "HOP_CONTROL_PLANE_CA"), internal_tls);
    let pod_volumes = array(&dp["spec"]["template"]["spec"]["volumes"], "volumes");
    for volume in pod_volumes
        .iter()
        .filter(|v| v["secret"]["secretName"] == internal_tls)
    {
        let items = array(
            &volume["secret"]["items"],
            "items of the control-plane's Secret",
        );
        assert!(
            items.iter().all(|item| item["key"] == "ca.crt"),
            "production: pods must get only ca.crt of {internal_tls}"
        );
    }
    let relay_tls = secret_file(m, dp, "HOP_RELAY_TLS_CERT");
    assert_eq!(secret_file(m, dp, "HOP_RELAY_TLS_KEY"), relay_tls);
    assert_eq!(secret_file(m, dp, "HOP_RELAY_CA"), relay_tls);
    assert_ne!(
        relay_tls, internal_tls,
        "production: the relay has its own certificate"
    );
}

#[test]
fn dev_overlay_runs_one_debug_pod() {
    let m = Manifests {
        objects: render("dev"),
        overlay: "dev".into(),
    };
    let dp = m.deployment(DATA_PLANE);
    assert_eq!(dp["spec"]["replicas"], 1);
    // One pod: every pod makes its own self-signed certificate, which agents pin.
    assert_eq!(env_value(m.container(dp), "HOP_SERVER_DEBUG"), "true");
    assert_eq!(
        m.of_kind("Secret").len(),
        1,
        "dev generates its Secret from secrets.env.example"
    );
}

// ---------------------------------------------------------------------------------------
// docker compose
// ---------------------------------------------------------------------------------------

/// Compose interpolation, enough for checking: `${VAR:-default}` → default, other
/// `${VAR…}` forms → `<VAR>`.
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closing brace") + start;
        let inner = &rest[start + 2..end];
        match inner.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => {
                let name = inner.split([':', '?', '-']).next().unwrap_or(inner);
                out.push_str(&format!("<{name}>"));
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A compose port entry `HOST:CONTAINER[/PROTO]` (interpolated) → (host, container, proto).
fn compose_port(entry: &Value) -> (u16, u16, String) {
    let text = interpolate(str_of(entry, "a compose port"));
    let (ports, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
    let parts: Vec<&str> = ports.split(':').collect();
    let [.., host, container] = parts.as_slice() else {
        panic!("compose port '{text}' needs HOST:CONTAINER");
    };
    let number = |s: &str| {
        s.parse()
            .unwrap_or_else(|_| panic!("port '{s}' in '{text}'"))
    };
    (number(host), number(container), protocol.to_owned())
}

fn compose_env<'a>(service: &'a Value, name: &str, var: &str) -> &'a str {
    str_of(
        &service["environment"][var],
        &format!("compose {name}: {var}"),
    )
}

type Services = serde_json::Map<String, Value>;

#[test]
fn compose_file_wires_services_ports_and_health_checks() {
    let text = read("deploy/compose/docker-compose.yml");
    let docs = yaml_documents(&text, "docker-compose.yml");
    assert_eq!(docs.len(), 1, "docker-compose.yml is one document");
    let services = docs[0]["services"]
        .as_object()
        .expect("docker-compose.yml has services");
    check_compose_services_are_all_there(services);
    check_compose_secrets_come_from_the_env_file(services);
    check_compose_builds_from_the_one_dockerfile(services);
    let internal = check_compose_control_plane(services);
    check_compose_pods(services, internal);
    check_prometheus_scrapes_every_hopgate_service(services);
    check_compose_mounts_exist(services);
}

/// Every service, each with a health check and an image name.
fn check_compose_services_are_all_there(services: &Services) {
    for name in [
        "postgres",
        "control-plane",
        "data-plane-1",
        "data-plane-2",
        "prometheus",
        "grafana",
    ] {
        let service = services
            .get(name)
            .unwrap_or_else(|| panic!("compose: no service {name}"));
        assert!(
            service["healthcheck"]["test"].is_array(),
            "compose {name}: no healthcheck"
        );
        assert!(
            service["image"].is_string(),
            "compose {name}: no image name"
        );
    }
}

/// Secrets only as interpolations from the env file.
fn check_compose_secrets_come_from_the_env_file(services: &Services) {
    for (name, service) in services {
        for var in SECRET_VARS
            .iter()
            .chain(&["POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"])
        {
            if let Some(value) = service["environment"].get(*var) {
                let value = str_of(value, var);
                // `${VAR}` or `${VAR:?message}`; a `:-default` would be an inline secret.
                assert!(
                    value.contains("${") && !value.contains(":-"),
                    "compose {name}: {var} must come from the env file (${{{var}}}), not \
                     be written inline"
                );
            }
        }
    }
}

/// The HopGate services are built from the one Dockerfile, listen for metrics on all
/// interfaces, and are checked on `/readyz` there.
fn check_compose_builds_from_the_one_dockerfile(services: &Services) {
    for (name, bin) in [
        ("control-plane", CONTROL_PLANE),
        ("data-plane-1", DATA_PLANE),
        ("data-plane-2", DATA_PLANE),
    ] {
        let build = &services[name]["build"];
        assert_eq!(build["dockerfile"], "deploy/docker/Dockerfile", "{name}");
        assert_eq!(build["args"]["BIN"], bin, "compose {name}: build arg BIN");
        let context = repo_root()
            .join("deploy/compose")
            .join(str_of(&build["context"], "build context"));
        assert!(
            context.join("Cargo.lock").is_file(),
            "compose {name}: the build context must be the repository root"
        );
        let metrics = compose_env(&services[name], name, "HOP_METRICS_LISTEN");
        assert!(metrics.starts_with("0.0.0.0:"), "compose {name}: {metrics}");
        let healthcheck = services[name]["healthcheck"]["test"].to_string();
        assert!(
            healthcheck.contains("/readyz")
                && healthcheck.contains(&listen_port(metrics).to_string()),
            "compose {name}: the health check must ask /readyz on the metrics port"
        );
    }
}

/// The control-plane's listeners: its database is the postgres service, its internal
/// listener is not published. Returns the internal listener's port.
fn check_compose_control_plane(services: &Services) -> u16 {
    let cp = &services["control-plane"];
    let internal = listen_port(compose_env(cp, "control-plane", "HOP_INTERNAL_LISTEN"));
    assert!(
        compose_env(cp, "control-plane", "HOP_DB_DSN").contains("@postgres:5432/"),
        "compose control-plane: HOP_DB_DSN must point at the postgres service"
    );
    for port in array(&cp["ports"], "control-plane ports") {
        let (_, container, _) = compose_port(port);
        assert_ne!(
            container, internal,
            "compose: the internal listener must not be published on the host"
        );
    }
    internal
}

/// The two pods (`internal`: the control-plane's internal port): HTTPS and DTLS on the
/// same host port, different host ports per pod, HTTP 80 on the first.
fn check_compose_pods(services: &Services, internal: u16) {
    let mut host_ports = BTreeSet::new();
    for (name, https_host) in [("data-plane-1", Some(443)), ("data-plane-2", None)] {
        let dp = &services[name];
        assert!(
            !compose_env(dp, name, "HOP_SERVER_DEBUG").is_empty(),
            "compose {name}: HOP_SERVER_DEBUG"
        );
        assert_eq!(
            compose_env(dp, name, "HOP_CONTROL_PLANE_URL"),
            format!("http://control-plane:{internal}"),
            "compose {name}: HOP_CONTROL_PLANE_URL"
        );
        assert_eq!(
            compose_env(dp, name, "HOP_POD_ID"),
            name,
            "compose {name}: HOP_POD_ID"
        );
        let ports: Vec<_> = array(&dp["ports"], "ports")
            .iter()
            .map(compose_port)
            .collect();
        let find = |setting: &str, protocol: &str| {
            let target = listen_port(compose_env(dp, name, setting));
            ports
                .iter()
                .find(|(_, container, p)| *container == target && p == protocol)
                .map(|(host, _, _)| *host)
                .unwrap_or_else(|| panic!("compose {name}: {setting} ({protocol}) not published"))
        };
        let https = find("HOP_SERVER_HTTPS_LISTEN", "tcp");
        let dtls = find("HOP_SERVER_DTLS_LISTEN", "udp");
        let http = find("HOP_SERVER_HTTP_LISTEN", "tcp");
        assert_eq!(
            https, dtls,
            "compose {name}: HTTPS and DTLS share the host port"
        );
        if let Some(expected) = https_host {
            assert_eq!(https, expected, "compose {name}: HTTPS host port");
            assert_eq!(http, 80, "compose {name}: HTTP host port");
        }
        for (host, _, protocol) in &ports {
            assert!(
                host_ports.insert((*host, protocol.clone())),
                "compose: host port {host}/{protocol} is published twice"
            );
        }
    }
}

/// Prometheus scrapes every HopGate service's metrics port.
fn check_prometheus_scrapes_every_hopgate_service(services: &Services) {
    let prometheus = &yaml_documents(&read("deploy/compose/prometheus.yml"), "prometheus.yml")[0];
    let targets: BTreeSet<String> = array(&prometheus["scrape_configs"], "scrape_configs")
        .iter()
        .flat_map(|job| job["static_configs"].as_array().into_iter().flatten())
        .flat_map(|config| config["targets"].as_array().into_iter().flatten())
        .map(|t| str_of(t, "target").to_owned())
        .collect();
    for name in ["control-plane", "data-plane-1", "data-plane-2"] {
        let port = listen_port(compose_env(&services[name], name, "HOP_METRICS_LISTEN"));
        assert!(
            targets.contains(&format!("{name}:{port}")),
            "prometheus.yml doesn't scrape {name}:{port} (targets: {targets:?})"
        );
    }
}

/// Every file mounted from the repository exists (Prometheus config, Grafana
/// provisioning, the dashboard), and Grafana mounts the dashboard and its provisioning.
fn check_compose_mounts_exist(services: &Services) {
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = str_of(volume, "volume")
                .split(':')
                .next()
                .unwrap_or_default();
            if source.starts_with('.') {
                let path = repo_root().join("deploy/compose").join(source);
                assert!(path.exists(), "compose {name}: {source} doesn't exist");
            }
        }
    }
    let grafana_volumes = services["grafana"]["volumes"].to_string();
    assert!(
        grafana_volumes.contains("hopgate-dashboard.json")
            && grafana_volumes.contains("provisioning"),
        "compose grafana: mount the dashboard and the provisioning files"
    );
}

// ---------------------------------------------------------------------------------------
// Grafana, Dockerfile
// ---------------------------------------------------------------------------------------

/// Every panel, the ones inside collapsed rows too.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in array(&dashboard["panels"], "panels") {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn dashboard_panels_all_query_hopgate_metrics() {
    let dashboard: Value = serde_json::from_str(&read("deploy/grafana/hopgate-dashboard.json"))
        .expect("the dashboard is valid JSON");
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    let mut ids = BTreeSet::new();
    let mut queried = String::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "duplicate panel id in {title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = array(&panel["targets"], title);
        assert!(!targets.is_empty(), "panel {title} has no query");
        for target in targets {
            let expr = str_of(&target["expr"], title);
            assert!(
                expr.contains("hopgate_"),
                "panel {title}: query doesn't use a hopgate_ metric: {expr}"
            );
            queried.push_str(expr);
            queried.push('\n');
        }
    }
    // Every metric deploy/README.md lists (exists today or planned) has a panel.
    let readme = read("deploy/README.md");
    let listed: BTreeSet<&str> = readme
        .split('`')
        .filter(|word| {
            word.starts_with("hopgate_")
                && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    assert!(listed.len() >= 10, "deploy/README.md lists the metrics");
    for metric in listed {
        assert!(
            queried.contains(metric),
            "deploy/README.md lists {metric}, but no dashboard panel queries it"
        );
    }
}

#[test]
fn dockerfile_builds_locked_and_runs_as_non_root() {
    let dockerfile = read("deploy/docker/Dockerfile");
    for needle in [
        "cargo build --release --locked -p",
        "ARG BIN",
        "FROM debian:${DEBIAN_RELEASE}-slim",
        "ARG DEBIAN_RELEASE=bookworm",
        "ca-certificates",
        "libssl3",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks `{needle}`");
    }
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "the image must not run as root: USER {user}"
    );
    let ignore = read("deploy/docker/Dockerfile.dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "**/target"),
        "the build context must leave target/ out"
    );
}
