using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Config;

/// <summary>
/// Pattern 2, configuration rollback: put a config file back to -PreviousPath (the spec's config/app.previous.yml) or
/// to the copy recorded when the application was last verified good; atomically, with its permissions kept.
/// </summary>
public sealed partial class ConfigStrategy : IRollbackStrategy
{
    private const string StepReplace = "ReplaceConfig";
    private const string SnapshotFile = "config.redacted";

    // The content the planned rollback writes (one strategy instance serves one invocation).
    private string? targetContent;

    public string Name => StrategyNames.Config;

    public TargetIdentity ResolveTarget(RollbackRequest request)
    {
        var path = request.Path is null ? null : System.IO.Path.GetFullPath(request.Path);
        if (path is null || !File.Exists(path))
        {
            throw new RollbackException(ErrorIds.ConfigFileNotFound, RollbackErrorKind.ObjectNotFound,
                path is null ? "The Config strategy needs -Path with the configuration file." : $"The configuration file '{path}' does not exist. Pass -Path with the live file.")
            { TargetName = path };
        }

        return new TargetIdentity("config:" + path, path);
    }

    public Task<StrategyAssessment> AssessAsync(RollbackRequest request, EngineContext context)
    {
        var target = ResolveTarget(request);
        var current = File.ReadAllText(target.Location);
        var (source, content) = FindTarget(request, context, target, current, required: false);
        var diff = content is null ? new List<string>() : RedactedDiff(current, content, target.Location);
        return Task.FromResult(new StrategyAssessment
        {
            CurrentVersion = Version(current),
            LastGoodVersion = content is null ? null : Version(content),
            LastGoodSource = source,
            AffectedComponents = new[] { target.Location },
            Changes = diff,
            Rationale = content is null
                ? "No previous copy is given (-PreviousPath) and none was recorded when the application was verified good."
                : $"Put {System.IO.Path.GetFileName(target.Location)} back to {source} ({diff.Count(l => l.StartsWith('-') || l.StartsWith('+'))} changed line(s)), then restart and verify.",
        });
    }

    public Task<(string? Version, string? Commit)> CaptureCheckpointAsync(RollbackRequest request, CheckpointWriter writer, EngineContext context)
    {
        var target = ResolveTarget(request);
        var current = File.ReadAllText(target.Location);
        writer.AddText(System.IO.Path.GetFileName(target.Location), current);
        writer.Details["file"] = target.Location;
        writer.Details["sha256"] = Version(current);
        return Task.FromResult<(string?, string?)>((Version(current), null));
    }

    public Task<RollbackPlan> PlanAsync(RollbackRequest request, EngineContext context)
    {
        var target = ResolveTarget(request);
        var current = File.ReadAllText(target.Location);
        var (source, content) = FindTarget(request, context, target, current, required: true);
        targetContent = content!;
        var diff = RedactedDiff(current, targetContent, target.Location);
        return Task.FromResult(new RollbackPlan
        {
            Strategy = Name,
            TargetKey = target.Key,
            Path = target.Location,
            FromVersion = Version(current),
            ToVersion = Version(targetContent),
            Changes = diff,
            SkipReason = current == targetContent ? $"{target.Location} already has the content of {source}." : null,
            Steps = new[]
            {
                new PlanStep
                {
                    Order = 1, Action = StepReplace, Target = target.Location,
                    Description = $"Replace {target.Location} with {source} (written whole, permissions kept):\n{string.Join('\n', diff)}",
                },
            },
        });
    }

    public Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackRequest request, RollbackCheckpoint checkpoint, EngineContext context)
    {
        var started = DateTimeOffset.UtcNow;
        UnixFileMode? mode = OperatingSystem.IsWindows() ? null : File.GetUnixFileMode(plan.Path);
        AtomicFile.WriteAllText(plan.Path, targetContent!);
        if (mode is { } keep && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(plan.Path, keep);
        }

        return Task.FromResult(new StepResult
        {
            Name = $"{step.Action} {System.IO.Path.GetFileName(plan.Path)}",
            StartedAt = started,
            Duration = DateTimeOffset.UtcNow - started,
            Status = StepStatus.Succeeded,
            Message = $"{plan.Path} now has {plan.ToVersion} (was {plan.FromVersion}); the failed copy is in checkpoint {checkpoint.Name}.",
        });
    }

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, RollbackRequest request, bool verified, EngineContext context) => Task.FromResult<StepResult?>(null);

    public Task<(string? Version, string? Commit)> GetCurrentVersionAsync(RollbackRequest request, EngineContext context) =>
        Task.FromResult<(string?, string?)>((Version(File.ReadAllText(ResolveTarget(request).Location)), null));

    /// <summary>The verified copy, with secret values masked: they are filled back from the live file at restore time.</summary>
    public Task<bool> CaptureVerifiedSnapshotAsync(RollbackRequest request, string folder, EngineContext context)
    {
        var content = File.ReadAllText(ResolveTarget(request).Location);
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotFile), DocumentSecrets.Redact(content, ResolveTarget(request).Location));
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, "sha256"), Version(content));
        return Task.FromResult(true);
    }

    // The diff of the redacted documents: a line-by-line redaction cannot know that a line is inside a secret's YAML block.
    private static List<string> RedactedDiff(string current, string target, string path) =>
        LineDiff.Compute(DocumentSecrets.Redact(current, path), DocumentSecrets.Redact(target, path), 40);

    public static string Version(string content) => "sha256:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(content)))[..12].ToLowerInvariant();

    private static (string? Source, string? Content) FindTarget(RollbackRequest request, EngineContext context, TargetIdentity target, string current, bool required)
    {
        if (request.PreviousPath is { } previous)
        {
            var path = System.IO.Path.GetFullPath(previous, System.IO.Path.GetDirectoryName(target.Location)!);
            return File.Exists(path)
                ? (path, File.ReadAllText(path))
                : throw new RollbackException(ErrorIds.ConfigPreviousMissing, RollbackErrorKind.ObjectNotFound,
                    $"The previous copy '{path}' does not exist.") { TargetName = path };
        }

        var verified = context.State.Journal.GetVerified(target.Key, limit: 20)
            .FirstOrDefault(v => v.Snapshot is not null && File.Exists(System.IO.Path.Combine(v.Snapshot, SnapshotFile)));
        if (verified is null)
        {
            return required
                ? throw new RollbackException(ErrorIds.ConfigPreviousMissing, RollbackErrorKind.InvalidArgument,
                    $"No previous copy of {target.Location}: pass -PreviousPath (e.g. config/app.previous.yml), or record the good configuration with Test-RollbackHealth -Strategy Config -RecordVerified.")
                { TargetName = target.Key }
                : (null, null);
        }

        var recorded = File.ReadAllText(System.IO.Path.Combine(verified.Snapshot!, SnapshotFile));
        return ($"the copy verified good at {verified.RecordedAt:u}", FillSecrets(recorded, current, target.Location));
    }

    [GeneratedRegex(@"^(?<key>\s*""?[A-Za-z0-9_.\-]+""?\s*[:=])")]
    private static partial Regex KeyPrefix();

    /// <summary>Lines whose secret was masked when recorded take the live file's line with the same key.</summary>
    private static string FillSecrets(string recorded, string current, string file)
    {
        var live = current.Split('\n').Select(line => (Match: KeyPrefix().Match(line), Line: line)).Where(l => l.Match.Success)
            .GroupBy(l => l.Match.Groups["key"].Value.Trim()).ToDictionary(g => g.Key, g => g.First().Line, StringComparer.Ordinal);
        var lines = recorded.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].Contains(SecretRedactor.Mask, StringComparison.Ordinal))
            {
                continue;
            }

            var key = KeyPrefix().Match(lines[i]).Groups["key"].Value.Trim();
            lines[i] = key.Length > 0 && live.TryGetValue(key, out var line)
                ? line
                : throw new RollbackException(ErrorIds.ConfigSecretUnavailable, RollbackErrorKind.InvalidOperation,
                    $"The recorded copy of {file} had a secret at line {i + 1} ({(key.Length > 0 ? key.TrimEnd(':', '=').Trim() : "no key")}), which is never stored and which the live file no longer has. Pass -PreviousPath with a full previous copy.")
                { TargetName = file };
        }

        return string.Join('\n', lines);
    }
}

/// <summary>A line diff for -WhatIf and the result: "- old", "+ new", at most a given number of lines.</summary>
internal static class LineDiff
{
    public static List<string> Compute(string before, string after, int maxLines)
    {
        var a = before.Replace("\r\n", "\n").Split('\n');
        var b = after.Replace("\r\n", "\n").Split('\n');
        if ((long)a.Length * b.Length > 4_000_000)
        {
            return new List<string> { $"(files too large for a line diff: {a.Length} and {b.Length} lines)" };
        }

        // Longest common subsequence, then walk it: small config files only.
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var diff = new List<string>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                x++;
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y]))
            {
                diff.Add("+ " + b[y++]);
            }
            else
            {
                diff.Add("- " + a[x++]);
            }
        }

        return diff.Count > maxLines ? diff.Take(maxLines).Append($"... and {diff.Count - maxLines} more changed line(s)").ToList() : diff;
    }
}
