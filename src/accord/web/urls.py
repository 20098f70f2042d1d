from django.urls import path

from accord.web import passkeys, twofactor, views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", views.set_language, name="set-language"),
    path("account/password/", views.password_change, name="password"),
    path("account/second-factor/", twofactor.overview, name="two-factor"),
    path("account/second-factor/verify/", twofactor.verify, name="two-factor-verify"),
    path("account/second-factor/enrol/", twofactor.enrol, name="two-factor-enrol"),
    path(
        "account/second-factor/recovery-codes/",
        twofactor.new_recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("account/second-factor/passkeys/", passkeys.add, name="passkey-add"),
    path("account/second-factor/passkeys/options/", passkeys.options, name="passkey-options"),
    path(
        "account/second-factor/passkeys/<int:pk>/remove/",
        passkeys.remove,
        name="passkey-remove",
    ),
    path("account/second-factor/passkeys/sign-in/", passkeys.sign_in, name="passkey-sign-in"),
    path(
        "account/second-factor/passkeys/sign-in/options/",
        passkeys.sign_in_options,
        name="passkey-sign-in-options",
    ),
    path("admin/users/", views.users, name="users"),
    path("admin/users/<int:user_id>/role/", views.user_role, name="user-role"),
    path("admin/users/<int:user_id>/active/", views.user_active, name="user-active"),
    path(
        "admin/users/<int:user_id>/second-factor/reset/", twofactor.reset, name="two-factor-reset"
    ),
    path("audit/", views.audit_log, name="audit"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
]
