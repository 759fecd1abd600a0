"""What RBAC actually allows: one effective-permission function, as the API server's RBAC
authorizer decides.

The rules it follows (Kubernetes documentation, "Using RBAC Authorization"):

* A **ClusterRoleBinding** grants its role's rules everywhere: every namespace, the
  cluster-scoped resources, and the non-resource URLs.
* A **RoleBinding** grants its role's rules (a Role's, or a ClusterRole's) only for
  *namespaced* resources, and only in the binding's own namespace. It never grants a
  cluster-scoped resource (nodes, persistentvolumes, namespaces, certificate signing
  requests and their approval, signers, webhook configurations, ClusterRoles, ...) and
  never a non-resource URL. The one use of a cluster-scoped resource a RoleBinding can
  serve is ``bind`` on a ClusterRole, which the API server checks in the namespace of
  the RoleBinding being created.
* A rule matches when its verbs hold the verb (or ``*``), its apiGroups the group (or
  ``*``), and its resources the resource: ``*`` (every resource *and* subresource), the
  exact ``resource`` or ``resource/subresource``, or ``*/subresource``.
* ``resourceNames`` limit a rule to those objects; a request without a name (``create``,
  ``list``, ``deletecollection``) is not granted by such a rule.
* An **aggregated ClusterRole** (``aggregationRule.clusterRoleSelectors``) holds the rules
  of every ClusterRole whose labels match a selector; the controller fills them in on a
  live cluster, and a dump or a GitOps folder may hold only the selectors, so they are
  computed here (aggregates of aggregates included).
* A binding to a role that does not exist grants nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
CERTS_GROUP = "certificates.k8s.io"
ADMISSION_GROUP = "admissionregistration.k8s.io"

# Cluster-scoped resources (apiGroup, resource) that the controls ask about, and the
# other built-in ones; a subresource is scoped like its resource.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "nodes"),
        ("", "persistentvolumes"),
        ("", "namespaces"),
        ("", "componentstatuses"),
        ("", "users"),  # impersonation of users and groups has no namespace
        ("", "groups"),
        ("authentication.k8s.io", "uids"),
        ("authentication.k8s.io", "userextras"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        (CERTS_GROUP, "certificatesigningrequests"),
        (CERTS_GROUP, "signers"),
        (CERTS_GROUP, "clustertrustbundles"),
        (ADMISSION_GROUP, "validatingwebhookconfigurations"),
        (ADMISSION_GROUP, "mutatingwebhookconfigurations"),
        (ADMISSION_GROUP, "validatingadmissionpolicies"),
        (ADMISSION_GROUP, "validatingadmissionpolicybindings"),
        (ADMISSION_GROUP, "mutatingadmissionpolicies"),
        (ADMISSION_GROUP, "mutatingadmissionpolicybindings"),
        (RBAC_GROUP, "clusterroles"),
        (RBAC_GROUP, "clusterrolebindings"),
        ("storage.k8s.io", "storageclasses"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "volumeattachments"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("apiregistration.k8s.io", "apiservices"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("node.k8s.io", "runtimeclasses"),
        ("networking.k8s.io", "ingressclasses"),
        ("flowcontrol.apiserver.k8s.io", "flowschemas"),
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
        ("policy", "podsecuritypolicies"),
    }
)
# Requests that name no object: a rule limited by resourceNames cannot grant them.
UNNAMED_VERBS = frozenset({"create", "list", "watch", "deletecollection"})


def is_cluster_scoped(group: str, resource: str) -> bool:
    return (group, resource.partition("/")[0]) in CLUSTER_SCOPED


def rule_matches(rule: dict[str, Any], verb: str, group: str, resource: str) -> bool:
    """Whether a PolicyRule's verbs, apiGroups and resources cover the request."""
    verbs = rule.get("verbs") or []
    groups = rule.get("apiGroups") or []
    if "*" not in verbs and verb not in verbs:
        return False
    if "*" not in groups and group not in groups:
        return False
    sub = resource.partition("/")[2]
    for granted in rule.get("resources") or []:
        if granted == "*" or granted == resource or (sub and granted == f"*/{sub}"):
            return True
    return False


def rule_grants(
    rule: dict[str, Any],
    verb: str,
    group: str,
    resource: str,
    *,
    name: str | None = None,
) -> bool:
    """The rule grants the request, ``resourceNames`` included (``name`` None: a request
    for no particular object, or "for some object" when asking who holds a right)."""
    if not rule_matches(rule, verb, group, resource):
        return False
    names = rule.get("resourceNames") or []
    if not names:
        return True
    if verb in UNNAMED_VERBS:
        return False
    return name is None or name in names


def binding_reaches(binding_namespace: str | None, verb: str, group: str, resource: str) -> bool:
    """Whether a binding in ``binding_namespace`` (None: a ClusterRoleBinding) can grant
    this resource at all."""
    if binding_namespace is None:
        return True
    if not is_cluster_scoped(group, resource):
        return True
    return verb == "bind" and (group, resource) == (RBAC_GROUP, "clusterroles")


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions); an empty one
    selects nothing in an aggregation rule."""
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    for key, value in match_labels.items():
        if labels.get(key) != str(value):
            return False
    for expr in expressions:
        key, operator = expr.get("key"), expr.get("operator")
        values = [str(v) for v in expr.get("values") or []]
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def clusterrole_rules(clusterroles: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every ClusterRole's effective rules, aggregation rules resolved (to a fixed point,
    so an aggregate of aggregates gets everything)."""
    meta = {str((c.get("metadata") or {}).get("name")): c for c in clusterroles}
    rules = {name: list(obj.get("rules") or []) for name, obj in meta.items()}
    aggregated = {
        name: list((obj.get("aggregationRule") or {}).get("clusterRoleSelectors") or [])
        for name, obj in meta.items()
        if obj.get("aggregationRule")
    }
    for _ in range(len(aggregated) + 1):
        changed = False
        for name, selectors in aggregated.items():
            for other, obj in meta.items():
                if other == name:
                    continue
                labels = {
                    str(k): str(v)
                    for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()
                }
                if any(selector_matches(s, labels) for s in selectors):
                    for rule in rules[other]:
                        if rule not in rules[name]:
                            rules[name].append(rule)
                            changed = True
        if not changed:
            break
    return rules


@dataclass
class Grant:
    """A binding of one subject to one role's rules."""

    binding: Any  # the rbac.Binding it came from
    namespace: str | None  # None: cluster-wide
    rules: list[dict[str, Any]]


@dataclass
class Authorizer:
    """Who may do what: the RBAC authorizer over a cluster's roles and bindings."""

    grants: dict[str, list[Grant]] = field(default_factory=dict)  # subject -> grants

    def add(self, subject: str, grant: Grant) -> None:
        self.grants.setdefault(subject, []).append(grant)

    def allowed(
        self,
        subjects: Iterable[str],
        verb: str,
        group: str,
        resource: str,
        *,
        namespace: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Would a request by someone holding ``subjects`` (user, groups, service account)
        be allowed? ``namespace`` None: a cluster-scoped request."""
        return any(True for _ in self.granting(subjects, verb, group, resource, namespace, name))

    def granting(
        self,
        subjects: Iterable[str],
        verb: str,
        group: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
    ) -> Iterator[Grant]:
        """The grants that allow the request."""
        for subject in subjects:
            for grant in self.grants.get(subject, []):
                if grant.namespace is not None and (
                    namespace != grant.namespace
                    or not binding_reaches(grant.namespace, verb, group, resource)
                ):
                    continue  # a RoleBinding answers only namespaced requests in its namespace
                if any(rule_grants(r, verb, group, resource, name=name) for r in grant.rules):
                    yield grant

    def holders(
        self, verb: str, group: str, resource: str, *, anywhere: bool = True
    ) -> dict[str, list[Grant]]:
        """Every subject that holds the right somewhere (in some namespace, or cluster-
        wide), with the grants that give it."""
        found: dict[str, list[Grant]] = {}
        for subject, grants in self.grants.items():
            for grant in grants:
                if not binding_reaches(grant.namespace, verb, group, resource):
                    continue
                if not anywhere and grant.namespace is not None:
                    continue
                if any(rule_grants(r, verb, group, resource) for r in grant.rules):
                    found.setdefault(subject, []).append(grant)
        return found


def subject_key(subject: dict[str, Any], binding_namespace: str | None) -> str:
    """``Kind/namespace/name``: a ServiceAccount without a namespace is in the binding's."""
    kind = str(subject.get("kind", "?"))
    ns = subject.get("namespace") or (binding_namespace if kind == "ServiceAccount" else "") or ""
    return f"{kind}/{ns}/{subject.get('name', '?')}"


def build_authorizer(
    roles: list[dict[str, Any]],
    clusterroles: list[dict[str, Any]],
    rolebindings: list[dict[str, Any]],
    clusterrolebindings: list[dict[str, Any]],
) -> Authorizer:
    """The authorizer of a cluster's RBAC objects."""
    cluster_rules = clusterrole_rules(clusterroles)
    role_rules = {
        (
            str((r.get("metadata") or {}).get("namespace") or "default"),
            str((r.get("metadata") or {}).get("name")),
        ): list(r.get("rules") or [])
        for r in roles
    }
    authorizer = Authorizer()
    for kind, items in (("ClusterRoleBinding", clusterrolebindings), ("RoleBinding", rolebindings)):
        for obj in items:
            meta = obj.get("metadata") or {}
            ns = str(meta.get("namespace") or "default") if kind == "RoleBinding" else None
            ref = obj.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                rules = cluster_rules.get(str(ref.get("name")))
            elif ref.get("kind") == "Role" and ns is not None:
                rules = role_rules.get((ns, str(ref.get("name"))))
            else:
                rules = None  # a ClusterRoleBinding cannot reference a Role
            if rules is None:
                continue
            for subject in obj.get("subjects") or []:
                authorizer.add(subject_key(subject, ns), Grant(obj, ns, rules))
    return authorizer


def subjects_of(
    user: str, groups: Iterable[str] = (), serviceaccount: str | None = None
) -> list[str]:
    """The subject keys a request carries: the user, its groups, and for a service
    account ``system:serviceaccount:ns:name`` its own key and its groups."""
    keys = [f"User//{user}"] + [f"Group//{g}" for g in groups]
    if serviceaccount:
        ns, _, name = serviceaccount.partition("/")
        keys += [
            f"ServiceAccount/{ns}/{name}",
            "Group//system:serviceaccounts",
            f"Group//system:serviceaccounts:{ns}",
        ]
    return keys
