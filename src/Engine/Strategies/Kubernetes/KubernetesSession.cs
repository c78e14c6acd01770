using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace DeploymentRollback.Engine.Kubernetes;

/// <summary>
/// Kubernetes workloads: kubectl rollout undo's choice of revision and its patch, then what kubectl lacks: the last
/// verified-good template as the default target, a watched wait with a verdict, optimistic concurrency, and the
/// ConfigMaps and Secrets the template references restored with it.
/// </summary>
public sealed class KubernetesSession : IRollbackSession, ISelectsTargets, IReadsLogs
{
    private const string StepRestoreConfig = "RestoreConfig";
    private const string StepPatch = "PatchTemplate";
    private const string StepWait = "WaitRollout";
    private const string StepReplaceStuckPods = "ReplaceStuckPods";
    private const string SnapshotFile = "kubernetes.json";
    private const int MaxRedecisions = 3;

    // The run's state: the decision made by the plan is reused by the checkpoint and the steps; the connection is closed with the session.
    private (KubernetesClientConfiguration Configuration, string Context)? configuration;
    private SharedCluster? sharedCluster;
    private KubeConnection? connection;
    private Decision? decision;
    private Workload? patched;

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public KubernetesSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static KubernetesTarget Of(RollbackRequest request) => request.DeploymentAs<KubernetesTarget>();

    public ValueTask DisposeAsync()
    {
        connection?.Dispose();
        return ValueTask.CompletedTask;
    }

    private TargetIdentity ResolveTarget(RollbackRequest request)
    {
        if (string.IsNullOrWhiteSpace(Of(request).Name) && Of(request).Selector is { } selector)
        {
            // A selection: each workload it finds is its own target (SelectAsync); this names the selection itself.
            var (_, selectionContext) = Configuration(request);
            var selected = $"{selectionContext}/{Of(request).Namespace ?? "(the context's)"}/{Workloads.ParseKind(Of(request).Kind).ToString().ToLowerInvariant()}?{selector}";
            return new TargetIdentity("kubernetes:" + selected, selected);
        }

        if (string.IsNullOrWhiteSpace(Of(request).Name))
        {
            throw new RollbackException(ErrorIds.KubernetesNameMissing, RollbackErrorKind.InvalidArgument,
                "The Kubernetes strategy needs -Name with the workload's name (see 'kubectl get deployments'), or -Selector to roll back every matching workload.");
        }

        var kind = Workloads.ParseKind(Of(request).Kind);
        var (loaded, contextName) = Configuration(request);
        var @namespace = Of(request).Namespace ?? loaded.Namespace ?? "default";
        var location = $"{contextName}/{@namespace}/{kind.ToString().ToLowerInvariant()}/{Of(request).Name}";
        return new TargetIdentity("kubernetes:" + location, location);
    }

    public async Task<StrategyAssessment> AssessAsync()
    {
        var target = Target;
        var kube = Connect(request);
        var workload = await ReadWorkloadAsync(kube, request, context.Cancellation).ConfigureAwait(false);
        var revisions = await Call(kube, "list the workload's revisions", () => Workloads.RevisionsAsync(kube, workload, context.Cancellation)).ConfigureAwait(false);
        var pods = await ListPodsAsync(kube, workload, context.Cancellation).ConfigureAwait(false);
        var events = await WarningEventsAsync(kube, workload, revisions, pods, context.Cancellation).ConfigureAwait(false);
        var problems = PodProblems.Describe(pods).ToList();
        var logs = new List<string>();
        foreach (var (pod, container) in PodProblems.Failing(pods).Take(3))
        {
            if (await LogTailAsync(kube, pod, container, 30, context.Cancellation).ConfigureAwait(false) is { Length: > 0 } log)
            {
                logs.Add($"{pod}/{container}:\n{log}");
            }
        }

        Revision? lastGood = null;
        string? source = null;
        string? undecided = null;
        try
        {
            (lastGood, source, _) = ChooseTarget(request, context, target.Key, workload, revisions);
        }
        catch (RollbackException e)
        {
            undecided = e.Message;
        }

        var rollout = workload.Evaluate(0, default);
        var errors = new List<string>();
        if (rollout.IsFailed)
        {
            errors.Add($"{workload.Display}: {rollout.Message}.");
        }

        errors.AddRange(problems);
        errors.AddRange(events);
        var current = CurrentRevision(workload, revisions);
        return new StrategyAssessment
        {
            CurrentVersion = VersionOf(workload.Template),
            CurrentIdentity = PodTemplates.Hash(workload.Template),
            LastGoodVersion = lastGood is null ? null : VersionOf(lastGood.Template),
            LastGoodSource = lastGood is null ? null : $"revision {lastGood.Number}, {source}",
            AffectedComponents = new[] { workload.Display }.Concat(pods.Where(p => PodProblems.IsFailing(p)).Select(p => "pod/" + p.Metadata.Name)).ToList(),
            Errors = errors,
            LogExcerpts = logs,
            FailureType = PodProblems.Classify(rollout, pods),
            Changes = revisions.OrderByDescending(r => r.Number).Select(r => $"revision {r.Number}: {PodTemplates.Images(r.Template)}{(r.ChangeCause is { } cause ? $" ({cause})" : "")}").ToList(),
            Facts = new Dictionary<string, string>
            {
                ["kind"] = workload.Kind.ToString(),
                ["namespace"] = workload.Namespace,
                ["context"] = kube.ContextName,
                ["revision"] = current?.Number.ToString(CultureInfo.InvariantCulture) ?? "unknown",
                ["target_revision"] = lastGood?.Number.ToString(CultureInfo.InvariantCulture) ?? "none",
                ["images"] = PodTemplates.Images(workload.Template),
                ["rollout"] = rollout.Message,
                ["paused"] = workload.Paused.ToString(),
                ["pods"] = string.Join(", ", pods.Select(PodProblems.Summary)),
            },
            Rationale = lastGood is null
                ? $"No revision to roll back to: {undecided}"
                : $"Put back the pod template of revision {lastGood.Number} ({PodTemplates.Images(lastGood.Template)}; {source}) and wait for the rollout.",
        };
    }

    public async Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        var kube = Connect(request);
        var workload = decision?.Workload ?? await ReadWorkloadAsync(kube, request, context.Cancellation).ConfigureAwait(false);
        var revisions = decision?.Revisions ?? await Call(kube, "list the workload's revisions", () => Workloads.RevisionsAsync(kube, workload, context.Cancellation)).ConfigureAwait(false);
        var pods = await ListPodsAsync(kube, workload, context.Cancellation).ConfigureAwait(false);
        var events = await EventsAsync(kube, workload, revisions, pods, context.Cancellation).ConfigureAwait(false);
        var indented = IndentedJson.Options;
        writer.AddText("workload.json", workload.Json.ToJsonString(indented));
        writer.AddText("revisions.json", JsonSerializer.Serialize(revisions.Select(r => new { revision = r.Number, source = r.SourceName, images = PodTemplates.Images(r.Template), templateHash = r.Hash, changeCause = r.ChangeCause, template = r.Template }), indented));
        writer.AddText("pods.json", JsonSerializer.Serialize(pods.Select(p => new { name = p.Metadata.Name, summary = PodProblems.Summary(p), status = Workloads.ToJsonNode(p.Status) }), indented));
        writer.AddText("events.txt", string.Join('\n', events.OrderBy(e => e.LastTimestamp ?? e.EventTime)
            .Select(e => $"{e.LastTimestamp ?? e.EventTime:u} {e.Type} {e.InvolvedObject.Kind}/{e.InvolvedObject.Name} {e.Reason}: {e.Message}")));
        // The failing containers, then the others of the failed template's pods: the "before" of the logs after a rollback.
        var current = CurrentRevision(workload, revisions);
        var logged = PodProblems.Failing(pods)
            .Concat(RunningRevision(workload, current, pods).SelectMany(p => p.Spec.Containers.Select(c => (Pod: p.Metadata.Name, Container: c.Name))))
            .Distinct().Take(LogSample.MaxSources);
        foreach (var (pod, container) in logged)
        {
            var path = $"logs/{pod}_{container}.txt";
            if (await LogTailAsync(kube, pod, container, 200, context.Cancellation).ConfigureAwait(false) is { } log)
            {
                writer.AddLog(path, log);
            }
            else
            {
                writer.AddText(path, "");
            }
        }

        foreach (var reference in PodTemplates.ConfigReferences(workload.Template))
        {
            if (await Call(kube, $"read {reference}", () => ConfigObjects.DescribeForCheckpointAsync(kube, reference, context.Cancellation)).ConfigureAwait(false) is { } described)
            {
                writer.AddText($"config/{reference.Kind.ToLowerInvariant()}-{reference.Name}.json", described);
            }
        }

        writer.Details["workload"] = $"{workload.Namespace}/{workload.Display}";
        writer.Details["context"] = kube.ContextName;
        writer.Details["revision"] = current?.Number.ToString(CultureInfo.InvariantCulture) ?? "unknown";
        writer.Details["images"] = PodTemplates.Images(workload.Template);
        writer.Details["template_hash"] = PodTemplates.Hash(workload.Template);
        writer.Details["pods"] = string.Join(", ", pods.Select(PodProblems.Summary));
        return (VersionOf(workload.Template), PodTemplates.Hash(workload.Template));
    }

    public async Task<RollbackPlan> PlanAsync()
    {
        var target = Target;
        var kube = Connect(request);
        decision = await DecideAsync(kube, request, context, target.Key).ConfigureAwait(false);
        var workload = decision.Workload;
        var steps = new List<PlanStep>();
        if (decision.SkipReason is null)
        {
            foreach (var config in decision.ConfigsToRestore)
            {
                steps.Add(new PlanStep
                {
                    Order = steps.Count + 1, Action = StepRestoreConfig, Target = $"{config.Kind}/{config.Name}",
                    Description = $"Restore {config.Kind} {config.Name} to its verified-good content (from the in-cluster copy {config.Copy}); its current content is copied aside first",
                });
            }

            var diff = PodTemplates.Diff(workload.Template, decision.Target!.Template);
            steps.Add(new PlanStep
            {
                Order = steps.Count + 1, Action = StepPatch, Target = workload.Display,
                Description = $"Replace the pod template of {workload.Display} in namespace {workload.Namespace} with revision {decision.Target.Number}'s ({decision.Source}), as 'kubectl rollout undo --to-revision={decision.Target.Number}' would: "
                    + string.Join("; ", diff),
            });
            if (workload.Kind == WorkloadKind.StatefulSet && (string?)workload.Json["spec"]?["podManagementPolicy"] != "Parallel" && (string?)workload.Json["spec"]?["updateStrategy"]?["type"] != "OnDelete")
            {
                steps.Add(new PlanStep
                {
                    Order = steps.Count + 1, Action = StepReplaceStuckPods, Target = workload.Display,
                    Description = $"Delete the pods of {workload.Display} that are stuck (not ready) on the failed revision, which a StatefulSet never replaces by itself; its controller recreates them from the restored template (the manual step Kubernetes documents for a StatefulSet rollback)",
                });
            }

            steps.Add(new PlanStep
            {
                Order = steps.Count + 1, Action = StepWait, Target = workload.Display, Mutates = false,
                Description = $"Watch the rollout of {workload.Display} for up to {Of(request).Timeout.TotalSeconds:0} s until every replica runs the restored template",
            });
        }

        return new RollbackPlan
        {
            Strategy = Name,
            TargetKey = target.Key,
            Path = target.Location,
            FromVersion = VersionOf(workload.Template),
            FromIdentity = PodTemplates.Hash(workload.Template),
            ToVersion = decision.Target is null ? VersionOf(workload.Template) : VersionOf(decision.Target.Template),
            ToIdentity = decision.Target?.Hash,
            SkipReason = decision.SkipReason,
            Changes = decision.Target is null ? Array.Empty<string>() : PodTemplates.Diff(workload.Template, decision.Target.Template),
            Steps = steps,
            Blockers = decision.SkipReason is null ? Blockers(workload) : Array.Empty<string>(),
        };
    }

    // What GitOps controllers put on what they manage: an undo there is reverted by their next sync.
    private static readonly (string Kind, string Key, string Owner)[] GitOpsMarks =
    {
        ("annotations", "argocd.argoproj.io/tracking-id", "Argo CD"),
        ("labels", "argocd.argoproj.io/instance", "Argo CD"),
        ("labels", "kustomize.toolkit.fluxcd.io/name", "Flux"),
        ("labels", "helm.toolkit.fluxcd.io/name", "Flux"),
    };

    /// <summary>What makes a rollback of this workload pointless or stuck: a GitOps owner, or a paused rollout.</summary>
    private static IReadOnlyList<string> Blockers(Workload workload)
    {
        var blockers = new List<string>();
        foreach (var (kind, key, owner) in GitOpsMarks)
        {
            if ((string?)workload.Json["metadata"]?[kind]?[key] is { } value)
            {
                blockers.Add($"{workload.Display} is managed by {owner} ({kind[..^1]} {key}={value}): its next sync would put the failed template back. Roll back in Git or with {(owner == "Flux" ? "flux suspend and a revert in Git" : "argocd app rollback")}, or suspend the sync first and leave this component out with -SkipComponent");
                break;
            }
        }

        if ((bool?)workload.Json["spec"]?["paused"] == true)
        {
            blockers.Add($"{workload.Display} is paused (spec.paused): a restored template would not roll out. Resume it first (kubectl rollout resume {workload.Display} -n {workload.Namespace}) if that is intended");
        }

        return blockers;
    }

    public async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var result = new StepResult { Name = $"{step.Action} {step.Target}", StartedAt = DateTimeOffset.UtcNow, Status = StepStatus.Succeeded };
        var kube = Connect(request);
        switch (step.Action)
        {
            case StepRestoreConfig:
                var config = decision!.ConfigsToRestore.First(c => $"{c.Kind}/{c.Name}" == step.Target);
                var aside = await Call(kube, $"copy {config.Kind} {config.Name} aside", () => ConfigObjects.CopyAsync(kube, config.Kind, config.Name, "failed", context.Cancellation)).ConfigureAwait(false);
                await Call(kube, $"restore {config.Kind} {config.Name}", async () =>
                {
                    await ConfigObjects.RestoreAsync(kube, config, context.Cancellation).ConfigureAwait(false);
                    return true;
                }).ConfigureAwait(false);
                result.Message = $"Restored {config.Kind} {config.Name} to its verified-good content (hash {config.Hash}); the failed content is kept in the cluster as {aside?.Copy ?? "(it did not exist)"}.";
                break;
            case StepPatch:
                await PatchWithRedecisionAsync(kube, request, context, plan, result).ConfigureAwait(false);
                break;
            case StepReplaceStuckPods:
                result.Message = patched is null ? "Nothing was patched." : await ReplaceStuckPodsAsync(kube, patched, Of(request).Timeout, context.Cancellation).ConfigureAwait(false);
                break;
            case StepWait:
                if (patched is null)
                {
                    result.Status = StepStatus.Skipped;
                    result.Message = "Nothing was patched, so there is no rollout to wait for.";
                    break;
                }

                var activity = $"Rolling back {plan.TargetKey} to {plan.ToVersion}";
                var (state, last) = await WaitReportingEverySecondAsync(kube, patched, decision!.Workload.Progressing, Of(request).Timeout, context, activity).ConfigureAwait(false);
                if (state.IsDone)
                {
                    result.Message = $"The rollout finished: {state.Message}.";
                }
                else
                {
                    result.Status = StepStatus.Failed;
                    result.ErrorId = ErrorIds.KubernetesRolloutFailed;
                    var pods = await ListPodsAsync(kube, last, CancellationToken.None).ConfigureAwait(false);
                    var problems = PodProblems.Describe(pods).ToList();
                    result.Message = $"The rollback was applied but its rollout did not finish: {state.Message}." + (problems.Count > 0 ? " " + string.Join(" ", problems.Take(3)) : "");
                    var output = new StringBuilder();
                    foreach (var pod in pods)
                    {
                        output.AppendLine(PodProblems.Summary(pod));
                    }

                    foreach (var (pod, container) in PodProblems.Failing(pods).Take(2))
                    {
                        output.AppendLine($"--- {pod}/{container}").AppendLine(await LogTailAsync(kube, pod, container, 20, CancellationToken.None).ConfigureAwait(false));
                    }

                    result.Output = SecretRedactor.Redact(output.ToString());
                }

                break;
            default:
                throw new InvalidOperationException($"Unknown Kubernetes step '{step.Action}'.");
        }

        result.Duration = DateTimeOffset.UtcNow - result.StartedAt;
        return result;
    }

    /// <summary>
    /// A workload left on a target that did not verify is not put back: its previous template is the failed one.
    /// The result says so, and the rollback counts toward escalation.
    /// </summary>
    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => Task.FromResult<StepResult?>(null);

    public async Task<VersionIdentity> GetCurrentVersionAsync()
    {
        var kube = Connect(request);
        var workload = await ReadWorkloadAsync(kube, request, context.Cancellation).ConfigureAwait(false);
        return (VersionOf(workload.Template), PodTemplates.Hash(workload.Template));
    }

    /// <summary>Records the template's identity and copies (in the cluster) every ConfigMap and Secret it references.</summary>
    public async Task<bool> CaptureVerifiedSnapshotAsync(string folder)
    {
        var kube = Connect(request);
        var workload = await ReadWorkloadAsync(kube, request, context.Cancellation).ConfigureAwait(false);
        var copies = new List<ConfigSnapshot>();
        foreach (var reference in PodTemplates.ConfigReferences(workload.Template))
        {
            if (await Call(kube, $"copy {reference}", () => ConfigObjects.CopyAsync(kube, reference.Kind, reference.Name, "verified", context.Cancellation)).ConfigureAwait(false) is { } copy)
            {
                copies.Add(copy);
            }
        }

        var snapshot = new KubernetesSnapshot(PodTemplates.Hash(workload.Template), PodTemplates.Images(workload.Template), copies);
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotFile), JsonSerializer.Serialize(snapshot, IndentedJson.Options));
        return true;
    }

    /// <summary>
    /// The logs of the pods that run the workload's template now (not those being deleted), one source per container, each
    /// asked for its lines of the last window (sinceSeconds) and at most LogSample.MaxLinesPerSource of them (tailLines). A
    /// container that cannot be read (not started yet) is left out; when none can be, the first refusal is thrown.
    /// </summary>
    public async Task<LogSample?> ReadRecentLogsAsync(DateTimeOffset since, CancellationToken cancellation)
    {
        var kube = Connect(request);
        var workload = decision?.Workload ?? await ReadWorkloadAsync(kube, request, cancellation).ConfigureAwait(false);
        var pods = (await ListPodsAsync(kube, workload, cancellation).ConfigureAwait(false)).Where(p => p.Metadata.DeletionTimestamp is null).ToList();
        // The revision the rollback went to runs the template now (its controller takes that revision up again).
        var running = decision?.Target is { } decided ? RunningRevision(workload, decided, pods).ToList() : new List<V1Pod>();
        if (running.Count == 0)
        {
            workload = await ReadWorkloadAsync(kube, request, cancellation).ConfigureAwait(false);
            var revisions = await Call(kube, "list the workload's revisions", () => Workloads.RevisionsAsync(kube, workload, cancellation)).ConfigureAwait(false);
            running = RunningRevision(workload, CurrentRevision(workload, revisions), pods).ToList();
        }

        var containers = running.SelectMany(p => p.Spec.Containers.Select(c => (Pod: p.Metadata.Name, Container: c.Name))).Take(LogSample.MaxSources).ToList();
        if (containers.Count == 0)
        {
            return null;
        }

        // Whole seconds back from now, counted after the pods are found (the API's sinceSeconds).
        var sinceSeconds = (int)Math.Clamp(Math.Ceiling((DateTimeOffset.UtcNow - since).TotalSeconds), 1, int.MaxValue);
        var lines = new List<string>();
        var sources = new List<string>();
        var capped = false;
        Exception? refused = null;
        foreach (var (pod, container) in containers)
        {
            try
            {
                using var stream = await kube.Client.CoreV1.ReadNamespacedPodLogAsync(pod, workload.Namespace, container: container, sinceSeconds: sinceSeconds, tailLines: LogSample.MaxLinesPerSource, cancellationToken: cancellation).ConfigureAwait(false);
                using var reader = new StreamReader(stream);
                var read = LogSample.Split(await reader.ReadToEndAsync(cancellation).ConfigureAwait(false));
                lines.AddRange(read);
                capped |= read.Count >= LogSample.MaxLinesPerSource;
                sources.Add($"pod/{pod}/{container}");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                refused ??= e;
            }
        }

        return sources.Count > 0 ? new LogSample(lines, sources) { Capped = capped } : throw kube.Explain(refused!, "read the pods' logs");
    }

    /// <summary>
    /// The pods that run a revision: a Deployment's are owned by the revision's ReplicaSet; a StatefulSet's carry its
    /// ControllerRevision's name in controller-revision-hash, a DaemonSet's the part after "&lt;name&gt;-". Every pod when the revision is not known.
    /// </summary>
    private static IEnumerable<V1Pod> RunningRevision(Workload workload, Revision? revision, IEnumerable<V1Pod> pods) =>
        revision is null
            ? pods
            : pods.Where(p => workload.Kind == WorkloadKind.Deployment
                ? p.Metadata.OwnerReferences?.Any(o => o.Controller == true && o.Name == revision.SourceName) == true
                : p.Metadata.Labels?.TryGetValue("controller-revision-hash", out var hash) == true && (hash == revision.SourceName || $"{workload.Name}-{hash}" == revision.SourceName));

    /// <summary>Every workload of the request's kind matching -Selector: the failing ones, or all with -All, each as its own request.</summary>
    /// <summary>-Selector: the workloads of the kind whose labels match, each with whether it is failing now.</summary>
    public string Selection => $"workloads matching {Of(request).Selector}";

    public bool IncludesHealthy => Of(request).All;

    public async Task<IReadOnlyList<SelectedTarget>> SelectAsync()
    {
        var kind = Workloads.ParseKind(Of(request).Kind);
        var kube = Connect(request);
        IReadOnlyList<Workload> workloads;
        try
        {
            workloads = await Workloads.ListAsync(kube, kind, Of(request).Selector!, context.Cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (KubeConnection.IsStatus(e, HttpStatusCode.BadRequest))
        {
            throw new RollbackException(ErrorIds.KubernetesSelectorInvalid, RollbackErrorKind.InvalidArgument,
                $"The label selector '{Of(request).Selector}' is not valid: {e.Message} Use the form 'app=web,tier in (front,back)'.", e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw kube.Explain(e, $"list {kind}s");
        }

        if (workloads.Count == 0)
        {
            throw new RollbackException(ErrorIds.KubernetesWorkloadNotFound, RollbackErrorKind.ObjectNotFound,
                $"No {kind} matches the selector '{Of(request).Selector}' in namespace '{Of(request).Namespace ?? "(the context's)"}'. Check the labels with 'kubectl get {kind.ToString().ToLowerInvariant()}s -l \"{Of(request).Selector}\"'.");
        }

        return workloads.OrderBy(w => w.Name, StringComparer.Ordinal).Select(w =>
        {
            var state = w.Evaluate(0, default);
            var status = w.Json["status"];
            var failing = state.IsFailed || ((long?)status?["unavailableReplicas"] ?? 0) > 0 || !state.IsDone;
            return new SelectedTarget(w.Name, request with { Deployment = Of(request) with { Name = w.Name, Selector = null, Namespace = kube.Namespace } }, failing, state.Message);
        }).ToList();
    }

    private async Task PatchWithRedecisionAsync(KubeConnection kube, RollbackRequest request, EngineContext context, RollbackPlan plan, StepResult result)
    {
        var notes = new List<string>();
        for (var attempt = 0; ; attempt++)
        {
            var current = decision!;
            try
            {
                patched = await Workloads.PatchTemplateAsync(kube, current.Workload, current.Target!, context.Cancellation).ConfigureAwait(false);
                notes.Add($"Patched {current.Workload.Display} to revision {current.Target!.Number}'s template ({PodTemplates.Images(current.Target.Template)}); the controller records it as a new revision.");
                result.Message = string.Join(" ", notes);
                return;
            }
            catch (Exception e) when (KubeConnection.IsStatus(e, HttpStatusCode.Conflict))
            {
                if (attempt >= MaxRedecisions)
                {
                    throw new RollbackException(ErrorIds.KubernetesConflict, RollbackErrorKind.ResourceBusy,
                        $"{current.Workload.Display} kept changing while it was being rolled back ({MaxRedecisions + 1} conflicts). Someone or something else is deploying it: stop that first, then retry.", e);
                }

                // Someone changed the workload after it was read: read it again and decide again, never overwrite their change blindly.
                // The intent stays the template chosen at first: revision numbers move, and "previous" may now be the failed one.
                decision = await DecideAsync(kube, request, context, plan.TargetKey, current.Target!.Hash).ConfigureAwait(false);
                notes.Add($"{current.Workload.Display} was changed by someone else (resourceVersion {current.Workload.ResourceVersion} is stale); read it again and re-decided:");
                if (decision.SkipReason is not null)
                {
                    result.Status = StepStatus.Skipped;
                    notes.Add($"nothing left to do, {decision.SkipReason}");
                    result.Message = string.Join(" ", notes);
                    return;
                }

                notes.Add(decision.Target!.Hash == current.Target!.Hash
                    ? $"the target is still revision {decision.Target.Number}."
                    : $"the target is now revision {decision.Target.Number} ({PodTemplates.Images(decision.Target.Template)}) instead of revision {current.Target.Number}.");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw kube.Explain(e, $"patch {current.Workload.Display}");
            }
        }
    }

    /// <summary>
    /// With OrderedReady pods a StatefulSet waits forever for a broken pod to become ready, even after its template is
    /// restored. Once the controller has seen the restored template, pods of another revision that are not ready are deleted.
    /// </summary>
    /// <summary>
    /// Waits for the rollout, repeating its latest status at least once a second. Hosts show about one progress record a
    /// second and drop the rest, and watch events can be seconds apart: without the repeat, the bar would keep showing an
    /// earlier phase (such as "Creating checkpoint") for the whole wait.
    /// </summary>
    private static async Task<(RolloutState State, Workload Last)> WaitReportingEverySecondAsync(KubeConnection kube, Workload patched,
        (string? Reason, string? Updated) staleDeadline, TimeSpan timeout, EngineContext context, string activity)
    {
        var started = DateTimeOffset.UtcNow;
        var repeating = new RepeatingProgressObserver(context.Observer, new ProgressUpdate(activity, $"Waiting for the rollout of {patched.Display}", 0, (int)timeout.TotalSeconds));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Cancellation);
        var heartbeat = Task.Run(async () =>
        {
            while (!stop.Token.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop.Token).ConfigureAwait(false);
                repeating.Repeat(DateTimeOffset.UtcNow - started, timeout);
            }
        }, stop.Token);
        repeating.Progress(repeating.Latest);
        try
        {
            return await Workloads.WaitAsync(kube, patched, staleDeadline, timeout, repeating, activity, context.Cancellation).ConfigureAwait(false);
        }
        finally
        {
            stop.Cancel();
            try
            {
                await heartbeat.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Passes everything on, remembering the latest progress so it can be shown again with fresh times.</summary>
    private sealed class RepeatingProgressObserver : IRollbackObserver
    {
        private readonly IRollbackObserver inner;
        private readonly object gate = new();

        public RepeatingProgressObserver(IRollbackObserver inner, ProgressUpdate first)
        {
            this.inner = inner;
            Latest = first;
        }

        public ProgressUpdate Latest { get; private set; }

        public void Progress(ProgressUpdate update)
        {
            lock (gate)
            {
                Latest = update;
                inner.Progress(update);
            }
        }

        public void Repeat(TimeSpan elapsed, TimeSpan timeout)
        {
            lock (gate)
            {
                inner.Progress(Latest with
                {
                    PercentComplete = (int)Math.Min(99, 100 * elapsed.TotalSeconds / Math.Max(1, timeout.TotalSeconds)),
                    SecondsRemaining = (int)Math.Max(0, (timeout - elapsed).TotalSeconds),
                });
            }
        }

        public void Verbose(string message) => inner.Verbose(message);

        public void Warning(string message) => inner.Warning(message);

        public Task<bool> ShouldProcessAsync(string target, string action) => inner.ShouldProcessAsync(target, action);
    }

    private static async Task<string> ReplaceStuckPodsAsync(KubeConnection kube, Workload patched, TimeSpan timeout, CancellationToken cancellation)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var current = patched;
        while ((long?)current.Json["status"]?["observedGeneration"] < patched.Generation && watch.Elapsed < timeout)
        {
            await Task.Delay(200, cancellation).ConfigureAwait(false);
            current = await Call(kube, $"read {patched.Display}", () => Workloads.ReadAsync(kube, patched.Kind, patched.Name, cancellation)).ConfigureAwait(false);
        }

        var updateRevision = (string?)current.Json["status"]?["updateRevision"];
        if (updateRevision is null)
        {
            return "The controller has not reported the restored revision yet; no pod was deleted.";
        }

        var pods = await ListPodsAsync(kube, current, cancellation).ConfigureAwait(false);
        var stuck = pods.Where(p => p.Metadata.Labels?.TryGetValue("controller-revision-hash", out var hash) == true && hash != updateRevision
            && p.Status?.ContainerStatuses?.All(c => c.Ready) != true).ToList();
        foreach (var pod in stuck)
        {
            await Call(kube, $"delete pod {pod.Metadata.Name}", () => kube.Client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, current.Namespace, cancellationToken: cancellation)).ConfigureAwait(false);
        }

        return stuck.Count == 0
            ? "No pod was stuck on the failed revision."
            : $"Deleted {stuck.Count} pod(s) stuck on the failed revision ({string.Join(", ", stuck.Select(p => p.Metadata.Name))}); the controller recreates them from revision {updateRevision}.";
    }

    private async Task<Decision> DecideAsync(KubeConnection kube, RollbackRequest request, EngineContext context, string targetKey, string? intendedHash = null)
    {
        var workload = await ReadWorkloadAsync(kube, request, context.Cancellation).ConfigureAwait(false);
        var revisions = await Call(kube, "list the workload's revisions", () => Workloads.RevisionsAsync(kube, workload, context.Cancellation)).ConfigureAwait(false);
        var (target, source, skip) = intendedHash is not null && revisions.LastOrDefault(r => r.Hash == intendedHash) is { } intended
            ? (intended, decision?.Source, (string?)null)
            : ChooseTarget(request, context, targetKey, workload, revisions);
        if (workload.Paused)
        {
            throw new RollbackException(ErrorIds.KubernetesDeploymentPaused, RollbackErrorKind.InvalidOperation,
                $"{workload.Display} is paused, and a paused Deployment cannot be rolled back (its rollout would not start). Resume it first with 'kubectl rollout resume {workload.Display} -n {workload.Namespace}', then retry.")
            { TargetName = targetKey };
        }

        skip ??= target is not null && PodTemplates.Equivalent(target.Template, workload.Template)
            ? $"the current template of {workload.Display} already matches revision {target.Number} ({PodTemplates.Images(target.Template)})"
            : null;

        // The ConfigMaps and Secrets recorded with the target's verified-good state, where they have changed since.
        var restore = new List<ConfigSnapshot>();
        if (skip is null && target is not null && VerifiedSnapshot(context, targetKey, target.Hash) is { } snapshot)
        {
            foreach (var config in snapshot.Configs)
            {
                var live = await Call(kube, $"read {config.Kind} {config.Name}", () => ConfigObjects.ReadAsync(kube, config.Kind, config.Name, context.Cancellation)).ConfigureAwait(false);
                if (live?.Hash != config.Hash)
                {
                    restore.Add(config);
                }
            }
        }

        return new Decision(workload, revisions, target, source ?? "", skip, restore);
    }

    /// <summary>-Target N exactly; else the last verified-good template; else kubectl's previous revision. Never further back on a second run.</summary>
    private static (Revision? Target, string? Source, string? Skip) ChooseTarget(RollbackRequest request, EngineContext context, string targetKey, Workload workload, IReadOnlyList<Revision> revisions)
    {
        var currentHash = PodTemplates.Hash(workload.Template);
        if (request.Target is { Length: > 0 } requested)
        {
            // A version as assessments and history show it ("app=... (template 1a2b3c4d)"), e.g. piped from Get-RollbackAssessment.
            if (revisions.LastOrDefault(r => VersionOf(r.Template) == requested.Trim()) is { } shown)
            {
                return (shown, "the version asked for", null);
            }

            var text = requested.Trim();
            text = text.StartsWith("revision", StringComparison.OrdinalIgnoreCase) ? text[8..].Trim() : text;
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number <= 0)
            {
                throw new RollbackException(ErrorIds.KubernetesRevisionNotFound, RollbackErrorKind.InvalidArgument,
                    $"'{requested}' is not a revision number. Pass -Target with one of {workload.Display}'s revisions: {Known(revisions)} (see 'kubectl rollout history {workload.Display} -n {workload.Namespace}').")
                { TargetName = targetKey };
            }

            var exact = revisions.FirstOrDefault(r => r.Number == number) ?? throw new RollbackException(ErrorIds.KubernetesRevisionNotFound, RollbackErrorKind.ObjectNotFound,
                $"{workload.Display} has no revision {number}. Known revisions: {Known(revisions)}.")
            { TargetName = targetKey };
            return (exact, "the revision asked for", null);
        }

        var lastGood = LastGoodRule.Find(context.State.Journal, targetKey, request.Strategy, new Templates(revisions, currentHash))
            ?? throw new RollbackException(ErrorIds.KubernetesNoRolloutHistory, RollbackErrorKind.ObjectNotFound,
                $"{workload.Display} has no earlier revision to roll back to ({(revisions.Count == 0 ? "no revisions" : $"only revision {revisions[^1].Number}")}), and no verified-good template of it is recorded. Deploy a known-good version instead.")
            { TargetName = targetKey };
        return lastGood.Identity == currentHash
            ? (null, null, $"{workload.Display} already runs the template to go back to ({lastGood.Source}): {PodTemplates.Images(workload.Template)}")
            : (revisions.Last(r => r.Hash == lastGood.Identity), lastGood.Source, null);
    }

    /// <summary>
    /// The last-good rule's questions about a workload's pod templates: versions are recorded with their template hash;
    /// a template is available while a revision keeps it; the fallback is kubectl's previous revision (an earlier one
    /// when a rollback went away from that).
    /// </summary>
    private sealed class Templates(IReadOnlyList<Revision> revisions, string currentHash) : ILastGoodHooks
    {
        public string? Locate(string version, string? recordedIdentity) =>
            revisions.LastOrDefault(r => recordedIdentity is not null ? r.Hash == recordedIdentity
                : VersionOf(r.Template) == version || version.EndsWith($"(template {r.Hash[..8]})", StringComparison.Ordinal))?.Hash;

        public bool IsCurrent(string identity) => identity == currentHash;

        // A workload failing on its newest verified-good template is not helped by an older one.
        public bool StaysOnNewestVerified => true;

        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom) =>
            revisions.Take(revisions.Count - 1).Reverse().FirstOrDefault(r => r.Hash != currentHash && !rolledBackFrom.Contains(VersionOf(r.Template))) is { } previous
                ? new LastGood(VersionOf(previous.Template), previous.Hash, "the previous revision")
                : null;
    }

    private static KubernetesSnapshot? VerifiedSnapshot(EngineContext context, string targetKey, string templateHash)
    {
        foreach (var verified in context.State.Journal.GetVerified(targetKey, limit: 20).Where(v => IsTemplate(v, templateHash) && v.Snapshot is not null))
        {
            var folder = context.State.SnapshotFolder(verified);
            var file = folder is null ? null : System.IO.Path.Combine(folder, SnapshotFile);
            if (File.Exists(file) && JsonSerializer.Deserialize<KubernetesSnapshot>(File.ReadAllText(file)) is { } snapshot)
            {
                return snapshot;
            }
        }

        return null;
    }

    /// <summary>
    /// Whether a verified-good record is this template: by its hash, or, for a record made without one (a piped
    /// verification that could not read the workload), by the hash prefix its version text carries.
    /// </summary>
    private static bool IsTemplate(VerifiedVersion verified, string templateHash) =>
        verified.Commit == templateHash || (verified.Commit is null && verified.Version.EndsWith($"(template {templateHash[..8]})", StringComparison.Ordinal));

    /// <summary>The kubeconfig, read once for this invocation (every phase names the target, and each would parse it again).</summary>
    private (KubernetesClientConfiguration Configuration, string Context) Configuration(RollbackRequest request)
    {
        if (configuration is null && context.Shared is { } shared)
        {
            // In a selection: the kubeconfig read and the client made once for all its workloads, not once each.
            sharedCluster = shared.GetOrAdd(new SharedClusterKey(Of(request).KubeConfig, Of(request).Context), () => SharedCluster.Load(request));
            configuration = (sharedCluster.Configuration, sharedCluster.Context);
        }
        else if (configuration is null)
        {
            var loaded = KubeConnection.LoadConfiguration(request, out var contextName);
            configuration = (loaded, contextName);
        }

        return configuration.Value;
    }

    private sealed record SharedClusterKey(string? KubeConfig, string? Context);

    /// <summary>One kubeconfig context's configuration and client, shared by the runs of a selection and disposed with it.</summary>
    private sealed class SharedCluster : IDisposable
    {
        private readonly Lazy<k8s.Kubernetes> client;

        private SharedCluster(KubernetesClientConfiguration configuration, string context)
        {
            Configuration = configuration;
            Context = context;
            client = new Lazy<k8s.Kubernetes>(() => KubeConnection.NewClient(configuration), LazyThreadSafetyMode.ExecutionAndPublication);
        }

        public KubernetesClientConfiguration Configuration { get; }
        public string Context { get; }
        public k8s.Kubernetes Client => client.Value;

        public static SharedCluster Load(RollbackRequest request)
        {
            var configuration = KubeConnection.LoadConfiguration(request, out var contextName);
            return new SharedCluster(configuration, contextName);
        }

        public void Dispose()
        {
            if (client.IsValueCreated)
            {
                client.Value.Dispose();
            }
        }
    }

    private KubeConnection Connect(RollbackRequest request)
    {
        if (connection is null)
        {
            var (loaded, contextName) = Configuration(request);
            connection = KubeConnection.Open(loaded, contextName, Of(request).Namespace, sharedCluster?.Client);
        }

        return connection;
    }

    private static async Task<Workload> ReadWorkloadAsync(KubeConnection kube, RollbackRequest request, CancellationToken cancellation)
    {
        var kind = Workloads.ParseKind(Of(request).Kind);
        try
        {
            return await Workloads.ReadAsync(kube, kind, Of(request).Name!, cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (KubeConnection.IsStatus(e, HttpStatusCode.NotFound))
        {
            var namespaceExists = true;
            try
            {
                await kube.Client.CoreV1.ReadNamespaceAsync(kube.Namespace, cancellationToken: cancellation).ConfigureAwait(false);
            }
            catch (Exception inner) when (KubeConnection.IsStatus(inner, HttpStatusCode.NotFound))
            {
                namespaceExists = false;
            }
            catch (Exception inner) when (KubeConnection.IsStatus(inner, HttpStatusCode.Forbidden))
            {
                // Reading namespaces is often not allowed; the workload is what is missing as far as we can tell.
            }

            throw namespaceExists
                ? new RollbackException(ErrorIds.KubernetesWorkloadNotFound, RollbackErrorKind.ObjectNotFound,
                    $"There is no {kind} '{Of(request).Name}' in namespace '{kube.Namespace}' (context '{kube.ContextName}'). Check the name, -Kind and -Namespace ('kubectl get {kind.ToString().ToLowerInvariant()}s -n {kube.Namespace}').", KubeConnection.WithoutRequest(e))
                { TargetName = Of(request).Name }
                : new RollbackException(ErrorIds.KubernetesNamespaceNotFound, RollbackErrorKind.ObjectNotFound,
                    $"The namespace '{kube.Namespace}' does not exist in context '{kube.ContextName}'. Pass -Namespace with an existing one ('kubectl get namespaces').", KubeConnection.WithoutRequest(e))
                { TargetName = kube.Namespace };
        }
        catch (Exception e) when (e is not OperationCanceledException and not RollbackException)
        {
            throw kube.Explain(e, $"read {kind} '{Of(request).Name}' in namespace '{kube.Namespace}'");
        }
    }

    private static async Task<T> Call<T>(KubeConnection kube, string what, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not RollbackException)
        {
            throw kube.Explain(e, what);
        }
    }

    private static async Task<IReadOnlyList<V1Pod>> ListPodsAsync(KubeConnection kube, Workload workload, CancellationToken cancellation) =>
        (await Call(kube, "list pods", () => kube.Client.CoreV1.ListNamespacedPodAsync(workload.Namespace, labelSelector: workload.Selector, cancellationToken: cancellation)).ConfigureAwait(false)).Items.ToList();

    private static async Task<IReadOnlyList<string>> WarningEventsAsync(KubeConnection kube, Workload workload, IReadOnlyList<Revision> revisions, IReadOnlyList<V1Pod> pods, CancellationToken cancellation) =>
        (await EventsAsync(kube, workload, revisions, pods, cancellation).ConfigureAwait(false)).Where(e => e.Type == "Warning")
            .OrderByDescending(e => e.LastTimestamp ?? e.EventTime)
            .Select(e => $"{e.InvolvedObject.Kind}/{e.InvolvedObject.Name}: {e.Reason}: {e.Message}")
            .Distinct().Take(10).ToList();

    /// <summary>
    /// Events about the workload, its newest revision and its failing pods, asked for by object name. A namespace's whole
    /// event list grows with everything in it: listing it for each of 100 workloads was measured twice as slow.
    /// </summary>
    private static async Task<IReadOnlyList<Corev1Event>> EventsAsync(KubeConnection kube, Workload workload, IReadOnlyList<Revision> revisions, IReadOnlyList<V1Pod> pods, CancellationToken cancellation)
    {
        var names = new[] { workload.Name }
            .Concat(revisions.OrderByDescending(r => r.Number).Take(1).Select(r => r.SourceName))
            .Concat(pods.Where(PodProblems.IsFailing).Take(3).Select(p => p.Metadata.Name))
            .Distinct(StringComparer.Ordinal);
        var lists = await Task.WhenAll(names.Select(name => Call(kube, "list events",
            () => kube.Client.CoreV1.ListNamespacedEventAsync(workload.Namespace, fieldSelector: $"involvedObject.name={name}", cancellationToken: cancellation)))).ConfigureAwait(false);
        return lists.SelectMany(l => l.Items).ToList();
    }

    private static async Task<string?> LogTailAsync(KubeConnection kube, string pod, string container, int lines, CancellationToken cancellation)
    {
        try
        {
            using var stream = await kube.Client.CoreV1.ReadNamespacedPodLogAsync(pod, kube.Namespace, container: container, tailLines: lines, cancellationToken: cancellation).ConfigureAwait(false);
            using var reader = new StreamReader(stream);
            return SecretRedactor.Redact(await reader.ReadToEndAsync(cancellation).ConfigureAwait(false));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A container that never started has no log; that is itself in the pod's state.
            return null;
        }
    }

    private static Revision? CurrentRevision(Workload workload, IReadOnlyList<Revision> revisions) =>
        revisions.LastOrDefault(r => PodTemplates.Equivalent(r.Template, workload.Template));

    /// <summary>What a template is recognised by: its images, and its hash, since two templates may share images.</summary>
    internal static string VersionOf(JsonNode template) => $"{PodTemplates.Images(template)} (template {PodTemplates.Hash(template)[..8]})";

    private static string Known(IReadOnlyList<Revision> revisions) =>
        revisions.Count == 0 ? "none" : string.Join(", ", revisions.Select(r => r.Number.ToString(CultureInfo.InvariantCulture)));

    private sealed record Decision(Workload Workload, IReadOnlyList<Revision> Revisions, Revision? Target, string Source, string? SkipReason, IReadOnlyList<ConfigSnapshot> ConfigsToRestore);

    private sealed record KubernetesSnapshot(string TemplateHash, string Images, IReadOnlyList<ConfigSnapshot> Configs);
}
