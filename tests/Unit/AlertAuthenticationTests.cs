using System.Security.Cryptography;
using System.Text;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>Bearer tokens and HMAC-SHA256 body signatures: what passes, and every way an unsigned or tampered alert is refused.</summary>
public class AlertAuthenticationTests
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("shared-secret-for-tests");
    private static readonly byte[] Body = Encoding.UTF8.GetBytes(AlertPayloadTests.Sample("alertmanager-firing.json"));

    private static byte[] Mac(byte[] body) => HMACSHA256.HashData(Secret, body);

    [Fact]
    public void Sign_writes_the_github_style_header_value()
    {
        var signature = AlertAuthentication.Sign(Body, Secret);

        Assert.Equal("sha256=" + Convert.ToHexString(Mac(Body)).ToLowerInvariant(), signature);
    }

    public static TheoryData<string, string> SignedForms()
    {
        var mac = Mac(Body);
        return new()
        {
            { "X-Hub-Signature-256", "sha256=" + Convert.ToHexString(mac).ToLowerInvariant() },
            { "x-hub-signature-256", "SHA256=" + Convert.ToHexString(mac) },
            { "X-Signature", Convert.ToHexString(mac).ToLowerInvariant() },
            { "X-Signature", Convert.ToBase64String(mac) },
            { "X-Signature", " sha256=" + Convert.ToBase64String(mac) + " " },
        };
    }

    [Theory]
    [MemberData(nameof(SignedForms))]
    public void A_body_signed_with_the_secret_passes_in_every_accepted_form(string header, string value)
    {
        var headers = new Dictionary<string, string> { [header] = value };

        AlertAuthentication.DemandSignature(Body, headers, Secret);
        Assert.True(AlertAuthentication.SignatureMatches(Body, value, Secret));
    }

    [Fact]
    public void An_unsigned_body_is_refused_naming_the_headers_looked_for()
    {
        var e = Assert.Throws<RollbackException>(() => AlertAuthentication.DemandSignature(Body, new Dictionary<string, string> { ["Content-Type"] = "application/json" }, Secret));

        Assert.Equal(ErrorIds.AlertSignatureInvalid, e.ErrorId);
        Assert.Equal(RollbackErrorKind.PermissionDenied, e.Kind);
        Assert.Contains("not signed", e.Message);
        Assert.Contains("X-Hub-Signature-256", e.Message);
    }

    [Fact]
    public void A_tampered_body_is_refused()
    {
        var headers = new Dictionary<string, string> { ["X-Hub-Signature-256"] = AlertAuthentication.Sign(Body, Secret) };
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Body).Replace("0.41", "0.01"));

        var e = Assert.Throws<RollbackException>(() => AlertAuthentication.DemandSignature(tampered, headers, Secret));

        Assert.Equal(ErrorIds.AlertSignatureInvalid, e.ErrorId);
        Assert.Contains("does not match", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sha256=")]
    [InlineData("sha1=0123456789abcdef0123456789abcdef01234567")]
    [InlineData("sha256=zz")]
    [InlineData("not base64 or hex")]
    [InlineData("AAAA")]
    public void A_malformed_signature_never_matches(string signature)
    {
        Assert.False(AlertAuthentication.SignatureMatches(Body, signature, Secret));
    }

    [Fact]
    public void Another_secret_or_no_secret_never_matches()
    {
        var signature = AlertAuthentication.Sign(Body, Secret);

        Assert.False(AlertAuthentication.SignatureMatches(Body, signature, Encoding.UTF8.GetBytes("another-secret")));
        Assert.False(AlertAuthentication.SignatureMatches(Body, signature, ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void A_named_header_is_the_only_one_read()
    {
        var headers = new Dictionary<string, string> { ["X-Hub-Signature-256"] = AlertAuthentication.Sign(Body, Secret) };

        var e = Assert.Throws<RollbackException>(() => AlertAuthentication.DemandSignature(Body, headers, Secret, "X-Grafana-Alerting-Signature"));
        Assert.Contains("X-Grafana-Alerting-Signature", e.Message);

        headers["X-Grafana-Alerting-Signature"] = Convert.ToHexString(Mac(Body));
        AlertAuthentication.DemandSignature(Body, headers, Secret, "X-Grafana-Alerting-Signature");
    }

    [Theory]
    [InlineData("Bearer s3cret-token", true)]
    [InlineData("bearer   s3cret-token  ", true)]
    [InlineData("Bearer s3cret-token2", false)]
    [InlineData("Bearer s3cret-toke", false)]
    [InlineData("Basic s3cret-token", false)]
    [InlineData("s3cret-token", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void A_bearer_token_matches_only_exactly(string? authorization, bool matches)
    {
        Assert.Equal(matches, AlertAuthentication.BearerTokenMatches(authorization, "s3cret-token"));
    }

    [Fact]
    public void A_request_without_the_bearer_token_is_refused()
    {
        AlertAuthentication.DemandBearerToken(new Dictionary<string, string> { ["authorization"] = "Bearer s3cret-token" }, "s3cret-token");

        var e = Assert.Throws<RollbackException>(() => AlertAuthentication.DemandBearerToken(new Dictionary<string, string>(), "s3cret-token"));
        Assert.Equal(ErrorIds.AlertTokenInvalid, e.ErrorId);
        Assert.DoesNotContain("s3cret-token", e.Message);
    }
}
