using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>
/// A PromQL expression and what passing means, written as one line ("expr &lt; 0.05"). The comparison is kept out of
/// the query sent to Prometheus: PromQL's own comparison would filter a failing series away, and a failure would read
/// as "no data".
/// </summary>
public sealed partial record PrometheusQuery(string Expression, string Operator, double Threshold, string? Name = null)
{
    [GeneratedRegex(@"^(?<expr>.+?)\s*(?<op><=|>=|==|!=|<|>)\s*(?<num>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$", RegexOptions.Singleline)]
    private static partial Regex Trailing();

    public string Condition => $"{Operator} {Threshold.ToString(CultureInfo.InvariantCulture)}";

    public string Label => Name ?? Expression;

    /// <summary>"expr op number", e.g. sum(rate(errors[1m])) / sum(rate(requests[1m])) &lt; 0.05.</summary>
    public static PrometheusQuery Parse(string text, string? name = null)
    {
        var match = Trailing().Match(text.Trim());
        if (!match.Success || match.Groups["expr"].Value.Trim().Length == 0)
        {
            throw new RollbackException(ErrorIds.WatchQueryInvalid, RollbackErrorKind.InvalidArgument,
                $"'{text}' has no success condition at its end. Write the PromQL expression followed by what passing means, e.g. 'sum(rate(http_requests_total{{code=~\"5..\"}}[1m])) / sum(rate(http_requests_total[1m])) < 0.05'.");
        }

        return new PrometheusQuery(match.Groups["expr"].Value.Trim(), match.Groups["op"].Value,
            double.Parse(match.Groups["num"].Value, NumberStyles.Float, CultureInfo.InvariantCulture), name);
    }

    public bool Holds(double value) => Operator switch
    {
        "<" => value < Threshold,
        "<=" => value <= Threshold,
        ">" => value > Threshold,
        ">=" => value >= Threshold,
        "==" => value == Threshold,
        _ => value != Threshold,
    };

    /// <summary>
    /// Prometheus's /api/v1/query answer as values: a scalar, or a vector's samples (NaN and infinities left out,
    /// as a ratio over no traffic is NaN). Null when the answer is not a success (the probe's error, not the application's).
    /// </summary>
    public static (IReadOnlyList<(string Series, double Value)>? Values, string? Error) ReadAnswer(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.TryGetProperty("status", out var status) && status.GetString() != "success")
            {
                var error = root.TryGetProperty("error", out var e) ? e.GetString() : "unknown error";
                return (null, $"Prometheus refused the query: {error}");
            }

            var data = root.GetProperty("data");
            var type = data.GetProperty("resultType").GetString();
            var result = data.GetProperty("result");
            var values = new List<(string, double)>();
            switch (type)
            {
                case "scalar":
                    AddSample(values, "", result);
                    break;
                case "vector":
                    foreach (var sample in result.EnumerateArray())
                    {
                        AddSample(values, DescribeSeries(sample.GetProperty("metric")), sample.GetProperty("value"));
                    }

                    break;
                default:
                    return (null, $"the query returns a {type}, not an instant vector or scalar: measure one value per series (e.g. wrap a range in rate() or avg_over_time())");
            }

            return (values, null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return (null, "the answer is not Prometheus's query API JSON: is the address Prometheus's (http://host:9090)?");
        }
    }

    private static void AddSample(List<(string, double)> values, string series, JsonElement pair)
    {
        var text = pair[1].GetString();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
        {
            values.Add((series, value));
        }
    }

    private static string DescribeSeries(JsonElement metric) =>
        "{" + string.Join(", ", metric.EnumerateObject().Select(p => $"{p.Name}=\"{p.Value.GetString()}\"")) + "}";
}
