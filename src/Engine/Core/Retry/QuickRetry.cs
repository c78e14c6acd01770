using System.Globalization;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.Retry;

public sealed record RetryRequest
{
    /// <summary>The deployment the retries belong to; attempts count toward this target's escalation.</summary>
    public string TargetKey { get; init; } = "retry:deployment";
    public required ScriptAction Deploy { get; init; }
    public TimeSpan Delay { get; init; } = TimeSpan.FromSeconds(30);
    public int MaxAttempts { get; init; } = 3;
    public IReadOnlyList<HealthCheckOptions> HealthChecks { get; init; } = Array.Empty<HealthCheckOptions>();
    public IReadOnlyList<ScriptAction> SmokeTests { get; init; } = Array.Empty<ScriptAction>();
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public EscalationOptions Escalation { get; init; } = new();
    public bool Force { get; init; }
    public Uri? WebhookUri { get; init; }
    public string? Reason { get; init; }
}

/// <summary>
/// Pattern 1, quick retry for transient failures: wait, run the deployment again, verify; each attempt journaled and
/// counted toward escalation like a rollback attempt, so a failure that is not transient ends in MANUAL_INTERVENTION_REQUIRED.
/// </summary>
public static partial class QuickRetry
{
    public const string StrategyName = "QuickRetry";

    // A status such as 503 says only that the service is unhealthy (ASP.NET Core and Spring Boot answer it for as long as
    // they are); what goes away on retry is a dependency's refused, reset or timed-out connection.
    [GeneratedRegex(@"connection refused|connection reset|timed? ?out|timeout|ECONNRESET|ECONNREFUSED|ETIMEDOUT", RegexOptions.IgnoreCase)]
    private static partial Regex TransientPattern();

    /// <summary>Whether an error text names a refused, reset or timed-out connection (to a dependency, when it comes from the service).</summary>
    public static bool LooksTransient(IEnumerable<string> errors) => errors.Any(e => TransientPattern().IsMatch(e));

    /// <summary>
    /// Whether the failure would likely go away on retry: a health check that failed and then passed within its retries
    /// (intermittent), or a reason, error or answer from the service that names a refused or timed-out connection. The
    /// health check's own connection failing, or a status that stays 503 across the retries, is the service being down.
    /// </summary>
    public static bool LooksTransient(IEnumerable<string> errors, HealthReport? health) =>
        health?.Checks.Any(c => c.Passed && c.Attempts > 1) == true
        || LooksTransient(errors.Concat(health?.Checks.Where(c => !c.Passed).Select(c => c.BodyExcerpt ?? "") ?? Enumerable.Empty<string>()));

    public static async Task<IReadOnlyList<RollbackResult>> RunAsync(RetryRequest request, EngineContext context)
    {
        var results = new List<RollbackResult>();
        var journal = context.State.Journal;
        await using var targetLock = await context.State.Store.AcquireLockAsync(request.TargetKey, request.LockTimeout, context.Observer, context.Cancellation).ConfigureAwait(false);
        await InterruptedAttempts.RecoverAsync(request.TargetKey, request.WebhookUri, context).ConfigureAwait(false);
        var failures = EscalationPolicy.Gate(journal, request.TargetKey, request.Escalation, request.Force, "retry", context.Observer);
        if (!await context.Observer.ShouldProcessAsync(request.TargetKey, $"Run {request.Deploy.Name} up to {request.MaxAttempts} time(s), {request.Delay.TotalSeconds:0} s apart, until it deploys and verifies").ConfigureAwait(false))
        {
            return results;
        }

        var earlierFailures = failures.Count;
        for (var attempt = 1; attempt <= request.MaxAttempts; attempt++)
        {
            await WaitAsync(request, attempt, context).ConfigureAwait(false);
            var result = new RollbackResult
            {
                AttemptId = Guid.NewGuid().ToString("N")[..12],
                Strategy = StrategyName,
                TargetKey = request.TargetKey,
                Path = request.Deploy.Name,
                StateDirectory = context.State.Directory,
                AttemptNumber = earlierFailures + 1,
                StartedAt = DateTimeOffset.UtcNow,
                Reason = request.Reason,
                ToVersion = $"retry {attempt} of {request.MaxAttempts}",
            };
            journal.StartAttempt(result);
            InterruptedAttempts.Claim(journal, result);
            InterruptedAttempts.RecordStepStart(journal, result, "Deploy");
            var step = new StepResult { Name = $"Deploy {request.Deploy.Name}", StartedAt = DateTimeOffset.UtcNow };
            try
            {
                try
                {
                    var outcome = await request.Deploy.Run(context.Cancellation).ConfigureAwait(false);
                    step.Status = outcome.Succeeded ? StepStatus.Succeeded : StepStatus.Failed;
                    step.Output = SecretRedactor.Redact(RollbackEngine.Tail(outcome.Output, 40));
                    step.Message = outcome.Succeeded ? "The deployment ran." : $"The deployment failed (exit code {outcome.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}).";
                }
                catch (Exception e) when (!context.Cancellation.IsCancellationRequested)
                {
                    step.Status = StepStatus.Failed;
                    step.Message = SecretRedactor.Redact(e.Message);
                }

                // A deployment stopped by the user reports a failure; it was cancelled.
                context.Cancellation.ThrowIfCancellationRequested();
                step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
                result.Steps.Add(step);
                if (step.Status == StepStatus.Succeeded && request.HealthChecks.Count + request.SmokeTests.Count > 0)
                {
                    InterruptedAttempts.RecordStepStart(journal, result, "Verify");
                    var health = await HealthVerifier.VerifyAsync(request.HealthChecks, request.SmokeTests, context.Observer, context.Cancellation).ConfigureAwait(false);
                    health.AttemptId = result.AttemptId;
                    health.TargetKey = request.TargetKey;
                    health.Strategy = StrategyName;
                    result.Health = health;
                    result.Verification = health.Healthy ? VerificationOutcome.Passed : VerificationOutcome.Failed;
                }
            }
            catch (Exception e) when (context.Cancellation.IsCancellationRequested)
            {
                // Recorded as failed, not left 'Running' for the next run to find as interrupted.
                if (!result.Steps.Contains(step))
                {
                    step.Status = StepStatus.Cancelled;
                    step.Message = "Cancelled by the user before the deployment finished.";
                    step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
                    result.Steps.Add(step);
                }

                await FinishAsync(result, StepStatus.Failed, earlierFailures, request, context, CancellationToken.None).ConfigureAwait(false);
                throw e as OperationCanceledException ?? new OperationCanceledException(step.Message, e, context.Cancellation);
            }

            var status = step.Status == StepStatus.Succeeded && result.Verification != VerificationOutcome.Failed ? StepStatus.Succeeded : StepStatus.Failed;
            await FinishAsync(result, status, earlierFailures, request, context, context.Cancellation).ConfigureAwait(false);
            results.Add(result);
            if (result.Outcome is RollbackOutcome.Succeeded or RollbackOutcome.Escalated)
            {
                break;
            }

            earlierFailures++;
        }

        return results;
    }

    private static async Task WaitAsync(RetryRequest request, int attempt, EngineContext context)
    {
        var activity = $"Retrying {request.Deploy.Name}";
        var deadline = DateTimeOffset.UtcNow + request.Delay;
        while (DateTimeOffset.UtcNow < deadline)
        {
            var left = deadline - DateTimeOffset.UtcNow;
            context.Observer.Progress(new ProgressUpdate(activity, $"Attempt {attempt} of {request.MaxAttempts} in {left.TotalSeconds:0} s",
                (int)(100 * (1 - left.TotalMilliseconds / Math.Max(1, request.Delay.TotalMilliseconds))), (int)left.TotalSeconds));
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, Math.Max(1, left.TotalMilliseconds))), context.Cancellation).ConfigureAwait(false);
        }

        context.Observer.Progress(new ProgressUpdate(activity, "Running", Completed: true));
    }

    private static async Task FinishAsync(RollbackResult result, StepStatus status, int earlierFailures, RetryRequest request, EngineContext context, CancellationToken cancellation)
    {
        result.CompletedAt = DateTimeOffset.UtcNow;
        result.Duration = result.CompletedAt - result.StartedAt;
        result.Outcome = status == StepStatus.Succeeded ? RollbackOutcome.Succeeded : RollbackOutcome.Failed;
        result.Message = result.Outcome == RollbackOutcome.Succeeded
            ? "The retried deployment ran" + (result.Verification == VerificationOutcome.Passed ? " and verified healthy." : "; not verified (no -HealthCheckUri or -SmokeTest).")
            : result.Steps.LastOrDefault()?.Status == StepStatus.Failed ? result.Steps.Last().Message : "The retried deployment did not verify.";
        if (EscalationPolicy.Decide(result, earlierFailures, request.Escalation, $"Escalated after {earlierFailures + 1} failed attempts: the failure is not transient. Roll back instead.") is { } why)
        {
            await EscalationPolicy.SignalAsync(result, why, request.WebhookUri, context.With(cancellation: cancellation)).ConfigureAwait(false);
        }

        context.State.Journal.CompleteAttempt(result);
    }
}
