using System.Security.Cryptography;
using System.Text;

namespace DeploymentRollback.Engine.Config;

/// <summary>
/// Pattern 2, configuration rollback: put a config file back to -PreviousPath (the spec's config/app.previous.yml) or
/// to the copy recorded when the application was last verified good; atomically, with its permissions kept.
/// </summary>
public sealed class ConfigSession : IRollbackSession
{
    private const string StepReplace = "ReplaceConfig";
    private const string SnapshotFile = "config.redacted";
    private const string SnapshotHashFile = "sha256";
    private const string SnapshotEncodingFile = "encoding";

    // The bytes the planned rollback writes (one strategy instance serves one invocation).
    private byte[]? targetContent;

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public ConfigSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static ConfigTarget Of(RollbackRequest request) => request.DeploymentAs<ConfigTarget>();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static TargetIdentity ResolveTarget(RollbackRequest request)
    {
        var path = Of(request).Path is { } given ? System.IO.Path.GetFullPath(given) : null;
        if (path is null)
        {
            throw new RollbackException(ErrorIds.ConfigFileNotFound, RollbackErrorKind.ObjectNotFound, "The Config strategy needs -Path with the configuration file.");
        }

        // A link (current/app.yml) is the target as the admin names it; what is written is the file it points at.
        NamedFile.Resolve(path, ErrorIds.ConfigFileNotFound, "The configuration file");
        return new TargetIdentity("config:" + path, path);
    }

    public Task<StrategyAssessment> AssessAsync()
    {
        var target = Target;
        var current = ReadLive(target);
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

    public Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        var target = Target;
        var current = ReadLive(target);
        // In the file's own encoding, so that the copy is the failed file byte for byte wherever no secret was masked.
        var (text, encoding) = ConfigText.Decode(current);
        writer.AddText(System.IO.Path.GetFileName(target.Location), text, redacted => ConfigText.Encode(redacted, encoding));
        writer.Details["file"] = target.Location;
        writer.Details["encoding"] = encoding;
        writer.Details["sha256"] = Version(current);
        return Task.FromResult<VersionIdentity>((Version(current), null));
    }

    public Task<RollbackPlan> PlanAsync()
    {
        var target = Target;
        var current = ReadLive(target);
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
            SkipReason = current.AsSpan().SequenceEqual(targetContent) ? $"{target.Location} already has the content of {source}." : null,
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

    public Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var started = DateTimeOffset.UtcNow;
        AtomicFile.WriteAllBytes(plan.Path, targetContent!);
        return Task.FromResult(new StepResult
        {
            Name = $"{step.Action} {System.IO.Path.GetFileName(plan.Path)}",
            StartedAt = started,
            Duration = DateTimeOffset.UtcNow - started,
            Status = StepStatus.Succeeded,
            Message = $"{plan.Path} now has {plan.ToVersion} (was {plan.FromVersion}); the failed copy is in checkpoint {checkpoint.Name}.",
        });
    }

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => Task.FromResult<StepResult?>(null);

    public Task<VersionIdentity> GetCurrentVersionAsync() =>
        Task.FromResult<VersionIdentity>((Version(ReadLive(Target)), null));

    /// <summary>
    /// The verified copy, with secret values masked (they are filled back from the live file at restore time, by key
    /// path), its encoding, and the hash of its exact bytes, which the restored file must match.
    /// </summary>
    public Task<bool> CaptureVerifiedSnapshotAsync(string folder)
    {
        var target = Target;
        var bytes = ReadLive(target);
        var (text, encoding) = ConfigText.Decode(bytes);
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotFile), DocumentSecrets.Redact(text, target.Location));
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotEncodingFile), encoding);
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotHashFile), Version(bytes));
        return Task.FromResult(true);
    }

    // The diff of the redacted documents: a line-by-line redaction cannot know that a line is inside a secret's YAML block.
    private static List<string> RedactedDiff(byte[] current, byte[] target, string path)
    {
        var (currentText, currentEncoding) = ConfigText.Decode(current);
        var (targetText, targetEncoding) = ConfigText.Decode(target);
        var diff = LineDiff.Compute(DocumentSecrets.Redact(currentText, path), DocumentSecrets.Redact(targetText, path), 40);
        if (!current.AsSpan().SequenceEqual(target) && diff.All(line => line.Trim() is "-" or "+" or ""))
        {
            // The line diff compares text: say what differs when no line does, so a preview never shows an empty change.
            diff = new List<string>
            {
                currentEncoding != targetEncoding ? $"~ the encoding: {currentEncoding} -> {targetEncoding}"
                : currentText.Replace("\r\n", "\n") == targetText.Replace("\r\n", "\n") ? $"~ the line endings ({(currentText.Contains("\r\n") ? "CRLF" : "LF")} -> {(targetText.Contains("\r\n") ? "CRLF" : "LF")})"
                : currentText.TrimEnd('\r', '\n') == targetText.TrimEnd('\r', '\n') ? "~ the newline at the end of the file"
                : "~ whitespace or bytes that no line shows",
            };
        }

        return diff;
    }

    private static byte[] ReadLive(TargetIdentity target) => NamedFile.Read(target.Location, ErrorIds.ConfigFileNotFound, "The configuration file");

    public static string Version(byte[] content) => "sha256:" + Convert.ToHexString(SHA256.HashData(content))[..12].ToLowerInvariant();

    private static (string? Source, byte[]? Content) FindTarget(RollbackRequest request, EngineContext context, TargetIdentity target, byte[] current, bool required)
    {
        if (Of(request).PreviousPath is { } previous)
        {
            var path = System.IO.Path.GetFullPath(previous, System.IO.Path.GetDirectoryName(target.Location)!);
            return (path, NamedFile.ReadAllBytes(path, ErrorIds.ConfigPreviousMissing, "The previous copy"));
        }

        // A release snapshot of a plan names the copy it recorded (request.Target, its hash); otherwise the newest.
        var verified = context.State.Journal.GetVerified(target.Key, limit: 50)
            .FirstOrDefault(v => (request.Target is null || v.Version == request.Target) && context.State.SnapshotFolder(v) is { } folder && File.Exists(System.IO.Path.Combine(folder, SnapshotFile)));
        if (verified is null && request.Target is not null)
        {
            throw new RollbackException(ErrorIds.ConfigPreviousMissing, RollbackErrorKind.ObjectNotFound,
                $"No copy of {target.Location} verified good as {request.Target} is kept any more. Roll back to a newer release, or pass -PreviousPath.") { TargetName = target.Key };
        }

        if (verified is null && context.State.Journal.GetVerified(target.Key, limit: 1).FirstOrDefault() is { } newest && context.State.SnapshotFolder(newest) is { } lost)
        {
            // Recorded, but its copy is gone from the state folder: say which file, not that nothing was ever recorded.
            throw new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.ObjectNotFound,
                $"The copy of {target.Location} verified good at {newest.RecordedAt:u} should be '{System.IO.Path.Combine(lost, SnapshotFile)}', which is missing. Nothing was changed. Restore the state folder from a backup, or pass -PreviousPath.")
            { TargetName = target.Key };
        }

        if (verified is null)
        {
            return required
                ? throw new RollbackException(ErrorIds.ConfigPreviousMissing, RollbackErrorKind.InvalidArgument,
                    $"No previous copy of {target.Location}: pass -PreviousPath (e.g. config/app.previous.yml), or record the good configuration with Test-RollbackHealth -Strategy Config -RecordVerified.")
                { TargetName = target.Key }
                : (null, null);
        }

        return ($"the copy verified good at {verified.RecordedAt:u}", Restore(verified, context.State.SnapshotFolder(verified)!, current, target.Location));
    }

    /// <summary>
    /// The verified copy with its masked secrets taken from the live file, each from the same key path, in the recorded
    /// encoding; refused unless the result is byte for byte the file that was verified (a secret changed since, or moved,
    /// cannot be known).
    /// </summary>
    private static byte[] Restore(VerifiedVersion verified, string folder, byte[] current, string file)
    {
        var recorded = File.ReadAllText(System.IO.Path.Combine(folder, SnapshotFile));
        var encodingFile = System.IO.Path.Combine(folder, SnapshotEncodingFile);
        var encoding = File.Exists(encodingFile) ? File.ReadAllText(encodingFile).Trim() : ConfigText.Utf8;
        var (text, unrestorable) = DocumentSecrets.Refill(recorded, ConfigText.Decode(current).Text, file);
        var bytes = ConfigText.Encode(text, encoding);
        var hashFile = System.IO.Path.Combine(folder, SnapshotHashFile);
        var expected = File.Exists(hashFile) ? File.ReadAllText(hashFile).Trim() : null;
        if (unrestorable.Count == 0 && expected is not null && Version(bytes) != expected && !recorded.Contains(SecretRedactor.Mask, StringComparison.Ordinal))
        {
            // No secret was masked in it, so no secret can explain the difference: the copy itself was changed.
            throw new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.InvalidOperation,
                $"The copy of {file} verified good at {verified.RecordedAt:u} ('{System.IO.Path.Combine(folder, SnapshotFile)}') no longer matches the hash recorded with it: it was changed or damaged. Nothing was changed. Restore the state folder from a backup, or pass -PreviousPath.")
            { TargetName = file };
        }

        if (unrestorable.Count > 0 || (expected is not null && Version(bytes) != expected))
        {
            var which = unrestorable.Count > 0 ? $"the secret(s) at {string.Join(", ", unrestorable)}" : $"a secret that has changed in the live file since (or the copy '{System.IO.Path.Combine(folder, SnapshotFile)}' was damaged)";
            throw new RollbackException(ErrorIds.ConfigSecretUnavailable, RollbackErrorKind.InvalidOperation,
                $"The copy of {file} verified good at {verified.RecordedAt:u} cannot be restored exactly: {which} is never stored, and the live file does not hold the value it had then. Nothing was changed. Pass -PreviousPath with a full previous copy.")
            { TargetName = file };
        }

        return bytes;
    }
}

/// <summary>A config file's text and encoding: its BOM if it has one, else UTF-8 when it is valid UTF-8, else Latin-1 (every byte kept).</summary>
internal static class ConfigText
{
    public const string Utf8 = "utf-8";
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static (string Text, string Encoding) Decode(byte[] bytes)
    {
        foreach (var (name, encoding) in WithBom)
        {
            var preamble = encoding.GetPreamble();
            if (bytes.AsSpan().StartsWith(preamble))
            {
                return (encoding.GetString(bytes, preamble.Length, bytes.Length - preamble.Length), name);
            }
        }

        try
        {
            return (StrictUtf8.GetString(bytes), Utf8);
        }
        catch (DecoderFallbackException)
        {
            return (Encoding.Latin1.GetString(bytes), "latin1");
        }
    }

    public static byte[] Encode(string text, string name)
    {
        var withBom = WithBom.FirstOrDefault(e => e.Name == name).Encoding;
        return withBom is not null
            ? [.. withBom.GetPreamble(), .. withBom.GetBytes(text)]
            : name == "latin1" ? Encoding.Latin1.GetBytes(text) : Encoding.UTF8.GetBytes(text);
    }

    // UTF-32 LE before UTF-16 LE: its BOM starts with UTF-16 LE's.
    private static readonly (string Name, Encoding Encoding)[] WithBom =
    {
        ("utf-8-bom", new UTF8Encoding(true)),
        ("utf-32le-bom", new UTF32Encoding(bigEndian: false, byteOrderMark: true)),
        ("utf-16le-bom", new UnicodeEncoding(bigEndian: false, byteOrderMark: true)),
        ("utf-16be-bom", new UnicodeEncoding(bigEndian: true, byteOrderMark: true)),
    };
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
