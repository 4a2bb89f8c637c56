"""What a container sees, as the kubelet builds it: mounted files, environment, command line.

Rules followed (Kubernetes docs "Configure a Pod to Use a ConfigMap", "Distribute Credentials Securely
Using Secrets", API reference of SecretVolumeSource/ConfigMapVolumeSource/VolumeMount/EnvVar):
- a `secret`/`configMap` volume holds one file per key, or only the `items` listed (`path` relative to
  the mount, optional `mode`); file mode is the item's `mode`, else `defaultMode`, else 0644;
- a missing Secret/ConfigMap (or a missing listed key) keeps the container from starting
  (ContainerCreating, `MountVolume.SetUp failed ...`) unless the source says `optional: true`;
- `volumeMounts[].mountPath` hides what the image had at that path; `subPath` mounts one entry of the
  volume (a file or a folder) at exactly `mountPath`;
- `emptyDir` is an empty folder;
- `env[].valueFrom.secretKeyRef`/`configMapKeyRef` read one key (missing: CreateContainerConfigError
  unless optional); `fieldRef` gives pod fields; `envFrom` imports every key, with `prefix`;
- `$(VAR)` in `value`, `command` and `args` expands to an earlier variable, `$$` escapes;
- `command` replaces the image's entrypoint and `args` its default arguments.
"""
from __future__ import annotations

import base64
import functools
import posixpath
import re
from dataclasses import dataclass, field

from ..constants import PROXY_CONTAINER
from .mesh import Container, MeshModel, Pod

DEFAULT_MODE = 0o644


@dataclass(frozen=True)
class MountedFile:
    path: str        # absolute path inside the container
    data: bytes
    mode: int


@dataclass
class ContainerView:
    """Everything the kubelet resolves for one container; `problems` non-empty means it cannot start."""
    files: list[MountedFile] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)  # mount points (hide the image's files there)
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None   # None: the image's entrypoint
    args: list[str] | None = None      # None: the image's default arguments
    problems: list[str] = field(default_factory=list)
    reason: str = ""                   # ContainerCreating or CreateContainerConfigError


def config_map_data(model: MeshModel, namespace: str, name: str) -> dict[str, bytes] | None:
    """A ConfigMap's `data` and `binaryData` as bytes, or None when it does not exist."""
    for obj in model.of_kind("ConfigMap"):
        if obj["metadata"]["namespace"] == namespace and obj["metadata"]["name"] == name:
            data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            return data
    return None


def _volume_source(model: MeshModel, pod: Pod, volume: dict) -> tuple[dict[str, bytes] | None, str, dict]:
    """(key -> bytes or None when missing, description for messages, the source block)."""
    if "secret" in volume:
        source = volume.get("secret") or {}
        name = source.get("secretName", "")
        return model.secret(pod.namespace, name), f'secret "{name}"', source
    if "configMap" in volume:
        source = volume.get("configMap") or {}
        name = source.get("name", "")
        return config_map_data(model, pod.namespace, name), f'configmap "{name}"', source
    return {}, "", {}


def _volume_entries(model: MeshModel, pod: Pod, volume: dict,
                    problems: list[str]) -> dict[str, tuple[bytes, int]] | None:
    """relative path -> (bytes, mode) of one volume; None when it is not a kind we materialise."""
    if not any(k in volume for k in ("secret", "configMap", "emptyDir")):
        return None
    data, what, source = _volume_source(model, pod, volume)
    optional = bool(source.get("optional"))
    default_mode = source.get("defaultMode", DEFAULT_MODE)
    if data is None:
        if not optional:
            problems.append(f'MountVolume.SetUp failed for volume "{volume.get("name")}" : {what} not found')
        return {}
    items = source.get("items")
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    entries = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if not optional:
                what_key = "configmap references non-existent config key" if "configMap" in volume \
                    else "references non-existent secret key"
                problems.append(f'MountVolume.SetUp failed for volume "{volume.get("name")}" : {what_key}: {key}')
            continue
        entries[item.get("path") or key] = (data[key], item.get("mode", default_mode))
    return entries


def _mount(entries: dict[str, tuple[bytes, int]], mount: dict, view: ContainerView) -> None:
    target = mount["mountPath"].rstrip("/") or "/"
    sub = (mount.get("subPath") or "").strip("/")
    if sub:
        if sub in entries:   # one file of the volume, exactly at mountPath
            data, mode = entries[sub]
            view.files.append(MountedFile(target, data, mode))
            return
        entries = {rel[len(sub) + 1:]: v for rel, v in entries.items() if rel.startswith(sub + "/")}
    view.directories.append(target)
    for rel, (data, mode) in sorted(entries.items()):
        view.files.append(MountedFile(f"{target}/{rel}", data, mode))


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names expand, unknown stay as written, $$ is a literal $."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return _VAR.sub(one, text)


_FIELDS = {
    "metadata.name": lambda pod: pod.name, "metadata.namespace": lambda pod: pod.namespace,
    "status.podIP": lambda pod: pod.ip, "spec.serviceAccountName": lambda pod: pod.service_account,
    "metadata.uid": lambda pod: pod.uid,
}


def _key_ref(model: MeshModel, pod: Pod, ref: dict, secret: bool, view: ContainerView) -> str | None:
    name, key = ref.get("name", ""), ref.get("key", "")
    data = model.secret(pod.namespace, name) if secret else config_map_data(model, pod.namespace, name)
    what = "secret" if secret else "configmap"
    if data is None or key not in data:
        if not ref.get("optional"):
            view.problems.append(f'{what} "{name}" not found' if data is None
                                 else f"couldn't find key {key} in {'Secret' if secret else 'ConfigMap'} "
                                      f"{pod.namespace}/{name}")
            view.reason = view.reason or "CreateContainerConfigError"
        return None
    return data[key].decode(errors="replace")


def _resolve_env(model: MeshModel, pod: Pod, raw: dict, view: ContainerView) -> None:
    for source in raw.get("envFrom") or []:
        prefix = source.get("prefix", "")
        secret = "secretRef" in source
        ref = source.get("secretRef" if secret else "configMapRef") or {}
        name = ref.get("name", "")
        data = model.secret(pod.namespace, name) if secret else config_map_data(model, pod.namespace, name)
        if data is None:
            if not ref.get("optional"):
                view.problems.append(f'{"secret" if secret else "configmap"} "{name}" not found')
                view.reason = view.reason or "CreateContainerConfigError"
            continue
        view.env.update({prefix + k: v.decode(errors="replace") for k, v in data.items()})
    for entry in raw.get("env") or []:
        name = entry.get("name")
        if not name:
            continue
        value_from = entry.get("valueFrom")
        if value_from is None:
            view.env[name] = expand(str(entry.get("value", "")), view.env)
            continue
        value: str | None = None
        if "secretKeyRef" in value_from:
            value = _key_ref(model, pod, value_from["secretKeyRef"] or {}, True, view)
        elif "configMapKeyRef" in value_from:
            value = _key_ref(model, pod, value_from["configMapKeyRef"] or {}, False, view)
        elif "fieldRef" in value_from:
            path = (value_from["fieldRef"] or {}).get("fieldPath", "")
            if path.startswith("metadata.labels['"):
                value = pod.labels.get(path[len("metadata.labels['"):-2], "")
            elif path in _FIELDS:
                value = _FIELDS[path](pod)
        if value is not None:
            view.env[name] = value


def container_view(model: MeshModel, pod: Pod, container: Container) -> ContainerView:
    """Files, env and command line of `container` in `pod`, resolved against the stored objects."""
    view = ContainerView()
    raw = container.spec or {}
    volumes = {v.get("name"): v for v in pod.volumes}
    mount_problems: list[str] = []
    for mount in raw.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        if volume is None or not mount.get("mountPath"):
            continue  # the API server's validation refuses this before we get here
        entries = _volume_entries(model, pod, volume, mount_problems)
        if entries is not None:
            _mount(entries, mount, view)
    for problem in mount_problems:
        if problem not in view.problems:
            view.problems.append(problem)
    if mount_problems:
        view.reason = "ContainerCreating"
    _resolve_env(model, pod, raw, view)
    if raw.get("command") is not None:
        view.command = [expand(str(a), view.env) for a in raw["command"]]
    if raw.get("args") is not None:
        view.args = [expand(str(a), view.env) for a in raw["args"]]
    return view


def proxy_file(model: MeshModel, pod: Pod, path: str) -> bytes | None:
    """A file inside the pod's istio-proxy container, where a DestinationRule's caCertificates,
    clientCertificate and privateKey point (Istio reads them there: istio-agent serves them to Envoy as
    `file-root:<path>` / `file-cert:<cert>~<key>`). Only what the YAML mounted is there: volumes the
    injector added from the `sidecar.istio.io/userVolume` and `userVolumeMount` annotations (or, for a
    gateway, its Deployment's own mounts). None when there is no such file."""
    proxy = next((c for c in pod.containers if c.name == PROXY_CONTAINER), None)
    if proxy is None or not path.startswith("/"):
        return None
    target = posixpath.normpath(path)
    return next((f.data for f in container_view(model, pod, proxy).files if f.path == target), None)


# The proxyv2 image is Ubuntu-based: its system trust bundle is ca-certificates' file, which istio-agent
# serves as `file-root:system` when a DestinationRule SIMPLE/MUTUAL names no caCertificates
# (pilot/pkg/networking/core/cluster_tls.go: CaCertificatePath defaults to "system").
PROXY_SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"


@functools.lru_cache(maxsize=1)
def proxy_system_roots() -> bytes | None:
    """The public CAs istio-proxy trusts by default: this machine's copy of the same Debian/Ubuntu
    ca-certificates bundle (None when it has none: then nothing verifies, as with an empty bundle)."""
    try:
        with open(PROXY_SYSTEM_ROOTS, "rb") as bundle:
            return bundle.read() or None
    except OSError:
        return None
