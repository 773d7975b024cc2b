"""Every French word the screens show for a stored value: statuses, roles, reasons, error codes.

One place, so that a value reads the same on every screen, in every export and in the audit, and so
that a wording is changed once. Keys are the values stored in the database (enum members are str)."""

from __future__ import annotations

# --- People ---------------------------------------------------------------------------------------

ROLE: dict[str, str] = {
    "admin": "Administrateur",
    "manager": "Responsable communication",
    "supervisor": "Superviseur",
    "agent": "Agent",
}

# What each action means, as the audit screen shows it.
AUDIT_ACTION: dict[str, str] = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "login_blocked": "Connexion refusée (compte verrouillé)",
    "login_throttled": "Connexion retardée (trop d'échecs depuis un même poste)",
    "account_locked": "Compte verrouillé",
    "logout": "Déconnexion",
    "session_expired": "Session expirée",
    "user_created": "Utilisateur créé",
    "user_disabled": "Utilisateur désactivé",
    "user_enabled": "Utilisateur réactivé",
    "user_role_changed": "Rôle modifié",
    "password_reset": "Mot de passe réinitialisé",
    "password_changed": "Mot de passe changé par son titulaire",
    "password_change_refused": "Changement de mot de passe refusé (mot de passe actuel incorrect)",
    "user_unlocked": "Compte déverrouillé",
    "demo_seeded": "Données de démonstration chargées",
    "contacts_imported": "Contacts importés",
    "contact_updated": "Contact modifié",
    "contact_erased": "Contact effacé",
    "consent_opt_out": "Désinscription",
    "consent_opt_in": "Réinscription",
    "segment_created": "Segment créé",
    "segment_updated": "Segment modifié",
    "segment_deleted": "Segment supprimé",
    "segment_members_added": "Contacts ajoutés au segment",
    "segment_members_removed": "Contacts retirés du segment",
    "template_created": "Modèle créé",
    "template_updated": "Modèle modifié",
    "template_deleted": "Modèle supprimé",
    "templates_synced": "Modèles synchronisés",
    "template_test_sent": "Envoi de test d'un modèle",
    "campaign_created": "Campagne créée",
    "campaign_updated": "Brouillon de campagne modifié",
    "campaign_scheduled": "Campagne programmée",
    "campaign_running": "Campagne démarrée",
    "campaign_paused": "Campagne en pause",
    "campaign_completed": "Campagne terminée",
    "campaign_cancelled": "Campagne annulée",
    "campaign_failed": "Campagne en échec",
    "campaign_submitted": "Campagne soumise à validation",
    "campaign_test_group_sent": "Campagne envoyée au groupe de test",
    "campaign_approved": "Campagne approuvée",
    "campaign_rejected": "Campagne refusée",
    "campaign_approval_reset": "Validation à refaire (campagne modifiée)",
    "campaign_budget_changed": "Plafond de dépense d'une campagne modifié",
    "campaign_expired": "Envois restants abandonnés (date de fin de la campagne)",
    "campaign_sent_back": "Campagne revenue en brouillon (audience au-delà de la validation)",
    "campaign_reopened": "Campagne rouverte pour un nouvel essai",
    "campaign_marketing_cap_retry": "Nouvel essai prévu (plafond marketing WhatsApp, 131049)",
    "contact_marketing_refused": "Contact refusant le marketing (WhatsApp 131050)",
    "contact_not_on_whatsapp": "Contact marqué « pas sur WhatsApp » (131026 deux fois)",
    "contact_not_on_whatsapp_cleared": "Mention « pas sur WhatsApp » retirée",
    "contact_marketing_refused_cleared": "Mention « refuse le marketing » retirée",
    "template_status_synced": "Statut du modèle mis à jour d'après WhatsApp",
    "message_sent": "Message envoyé",
    "template_sent": "Modèle envoyé à une personne",
    "conversation_assigned": "Conversation prise en charge",
    "conversation_handled": "Conversation traitée",
    "conversation_handed": "Conversation confiée à un collègue",
    "conversation_returned_to_bot": "Conversation rendue à l'assistant virtuel",
    "conversation_reopened": "Conversation rouverte",
    "saved_reply_saved": "Réponse enregistrée écrite ou modifiée",
    "saved_reply_deleted": "Réponse enregistrée supprimée",
    "inbound_event_retried": "Événement Respond.io mis de côté : réessayé",
    "inbound_event_discarded": "Événement Respond.io mis de côté : écarté",
    "kb_document_indexed": "Document indexé (base de connaissances)",
    "kb_document_enabled": "Document réactivé (base de connaissances)",
    "kb_document_disabled": "Document désactivé (base de connaissances)",
    "kb_document_deleted": "Document supprimé (base de connaissances)",
}


# --- Contacts -------------------------------------------------------------------------------------

PHONE_REJECTION: dict[str, str] = {
    "empty": "Numéro vide",
    "not_a_number": "Pas un numéro de téléphone",
    "excel_mangled": "Numéro abîmé par Excel (notation scientifique, chiffres perdus)",
    "fixed_line": "Ligne fixe : pas de WhatsApp",
    "invalid_length": "Longueur du numéro invalide",
    "invalid": "Numéro invalide",
    "not_mobile": "Numéro étranger qui n'est pas un mobile",
}

# The contact fields a template variable may take its value from.
CONTACT_FIELD: dict[str, str] = {"first_name": "Prénom", "last_name": "Nom", "phone": "Téléphone", "language": "Langue"}

CONSENT: dict[str, str] = {"opted_in": "Consentement donné", "opted_out": "Désinscrit", "unknown": "Inconnu"}

IMPORT_FIELD: dict[str, str] = {
    "phone": "Téléphone",
    "first_name": "Prénom",
    "last_name": "Nom",
    "language": "Langue",
    "consent": "Consentement",
    "attribute": "Attribut personnalisé",
    "ignore": "Ignorer",
}

CSV_SEPARATOR: dict[str, str] = {";": "point-virgule", ",": "virgule", "\t": "tabulation"}


# --- Campaigns ------------------------------------------------------------------------------------

CAMPAIGN_STATUS: dict[str, str] = {
    "draft": "Brouillon",
    "scheduled": "Programmée",
    "running": "En cours",
    "paused": "En pause",
    "completed": "Terminée",
    "cancelled": "Annulée",
    "failed": "En échec",
}

RECIPIENT_STATUS: dict[str, str] = {
    "pending": "En attente",
    "sending": "En cours d'envoi",
    "sent": "Envoyé",
    "delivered": "Remis",
    "read": "Lu",
    "failed": "Échec",
    "skipped": "Écarté",
}

RETARGET: dict[str, str] = {
    "not_delivered": "non remis",
    "not_read": "non lus",
    "failed": "en échec",
    "unverified": "non vérifiés",
}


# --- Templates (WhatsApp's words) -----------------------------------------------------------------

TEMPLATE_STATUS: dict[str, str] = {
    "APPROVED": "Approuvé",
    "PENDING": "En attente de validation",
    "REJECTED": "Refusé",
    "PAUSED": "En pause",
    "DISABLED": "Désactivé",
    "IN_APPEAL": "En appel",
    "PENDING_DELETION": "Suppression en cours",
    "DELETED": "Supprimé",
    "LIMIT_EXCEEDED": "Limite atteinte",
}

TEMPLATE_CATEGORY: dict[str, str] = {
    "MARKETING": "Marketing",
    "UTILITY": "Service (utilitaire)",
    "AUTHENTICATION": "Authentification",
}

TEMPLATE_QUALITY: dict[str, str] = {"GREEN": "Bonne", "YELLOW": "Moyenne", "RED": "Faible", "UNKNOWN": "Inconnue"}


# --- Conversations --------------------------------------------------------------------------------

CONVERSATION_STATUS: dict[str, str] = {
    "waiting_agent": "Attend un agent",
    "agent": "Prise en charge",
    "bot": "Assistant virtuel",
    "closed": "Traitée",
}

HANDOFF_REASON: dict[str, str] = {
    "requested": "la personne a demandé un conseiller",
    "bot_unsure": "l'assistant n'était pas sûr",
    "bot_refused": "question hors du champ de l'assistant",
    "no_bot": "assistant indisponible",
    "bot_disabled": "assistant désactivé",
    "attachment": "pièce jointe reçue",
    "send_failed": "réponse de l'assistant non envoyée",
}

MESSAGE_STATUS: dict[str, str] = {
    "pending": "en attente d'envoi",
    "sent": "envoyé",
    "delivered": "remis",
    "read": "lu",
    "failed": "échec",
}

AUTHOR: dict[str, str] = {
    "contact": "La personne",
    "bot": "Assistant virtuel",
    "agent": "Agent",
    "campaign": "Campagne",
    "system": "Message automatique",
}


# --- Messages sent outside campaigns --------------------------------------------------------------

OUTBOX_PURPOSE: dict[str, str] = {
    "opt_out_confirmation": "Confirmation de désinscription",
    "opt_in_confirmation": "Confirmation de réinscription",
    "bot_answer": "Réponse du chatbot",
    "handover_notice": "Avis de transfert à un conseiller",
    "system": "Message automatique",
    "agent_reply": "Réponse d'un agent",
    "agent_template": "Modèle envoyé par un agent",
    "template_test": "Envoi de test d'un modèle",
    "campaign_test_group": "Campagne envoyée au groupe de test",
}

OUTBOX_STATUS: dict[str, str] = {
    "pending": "en attente d'envoi",
    "sending": "en cours d'envoi",
    "sent": "envoyé",
    "failed": "échec",
}


# --- Segments -------------------------------------------------------------------------------------

SEGMENT_OPERATOR: dict[str, str] = {
    "equals": "est égal à",
    "not_equals": "est différent de",
    "contains": "contient",
    "starts_with": "commence par",
    "in": "fait partie de",
    "is_empty": "est vide",
    "is_not_empty": "n'est pas vide",
    "gt": "est supérieur à",
    "lt": "est inférieur à",
    "before": "est avant le",
    "after": "est après le",
}


# --- Errors: WhatsApp's codes, then ours ----------------------------------------------------------

WHATSAPP_ERROR: dict[str, str] = {
    "130429": "Limite de débit WhatsApp atteinte : nouvel essai plus tard",
    "131056": "Trop de messages à la même personne : nouvel essai plus tard",
    "131026": "Message non distribuable (pas de WhatsApp, application trop ancienne…)",
    "131047": "Hors de la fenêtre de 24 heures : il faut un modèle",
    "470": "Hors de la fenêtre de 24 heures : il faut un modèle",
    "131048": "Limitation pour spam (qualité) : campagne mise en pause",
    "131049": "Plafond de messages marketing pour cette personne",
    "131050": "La personne a refusé les messages marketing",
    "131051": "Type de message non pris en charge",
    "132000": "Nombre de paramètres différent du modèle",
    "132001": "Modèle ou langue inexistant",
    "132012": "Format de paramètre incorrect",
    # Our own codes, for what no WhatsApp code describes.
    "unverified": "Envoi non vérifiable : Respond.io n'a pas pu confirmer si le message est parti",
    "not_accepted": "Jamais accepté par Respond.io malgré plusieurs essais",
    "expired": "Respond.io n'a pas accepté le message dans le délai prévu",
    "opted_out": "La personne s'est désinscrite avant l'envoi : rien n'est parti",
    "erased": "Le contact a été effacé avant l'envoi : rien n'est parti",
    "network": "Respond.io injoignable (réseau)",
    "http_404": "Contact inconnu de Respond.io",
    "http_429": "Limite de débit de Respond.io atteinte",
    "http_449": "Requête mise en attente par Respond.io",
    "http_500": "Erreur interne de Respond.io",
    "http_502": "Respond.io indisponible (passerelle)",
    "http_503": "Respond.io indisponible",
    "http_504": "Respond.io n'a pas répondu à temps (passerelle)",
    "http_401": "Jeton Respond.io refusé : vérifiez RESPONDIO_API_TOKEN",
    "http_403": "Accès refusé par Respond.io : vérifiez les droits du jeton",
}

# Our codes, as a user reads them.
OWN_ERROR_CODE: dict[str, str] = {
    "unverified": "non vérifié",
    "network": "réseau",
    "not_accepted": "non accepté",
    "expired": "non accepté à temps",
    "opted_out": "désinscrit entre-temps",
    "erased": "contact effacé",
}


# --- Template editor ------------------------------------------------------------------------------

BUTTON_TYPE: dict[str, str] = {"QUICK_REPLY": "Réponse rapide", "URL": "Lien", "PHONE_NUMBER": "Appel"}

HEADER_FORMAT: dict[str, str] = {
    "": "Aucun",
    "TEXT": "Texte",
    "IMAGE": "Image",
    "VIDEO": "Vidéo",
    "DOCUMENT": "Document",
    "LOCATION": "Localisation",
}


# --- Template variables ---------------------------------------------------------------------------

MAPPING_SOURCE: dict[str, str] = {"field": "Champ du contact", "attribute": "Attribut du contact", "text": "Texte fixe"}


# --- Segment editor -------------------------------------------------------------------------------

SEGMENT_MATCH: dict[str, str] = {"all": "toutes les règles", "any": "au moins une règle"}


SKIPPED_AT_SEND = {  # found when the row was about to leave (core/ledger.py)
    "opted_out": "la personne s'est désinscrite avant l'envoi",
    "erased": "le contact a été effacé avant l'envoi",
    "not_on_whatsapp": "le contact a été marqué « pas sur WhatsApp » avant l'envoi",
    "marketing_refused": "la personne refuse désormais les messages marketing",
}


def skip_reason(reason: str | None) -> str:
    """Why a recipient was left out at launch, in French: `missing_variable:1` -> `la variable {{1}}
    du modèle n'a pas de valeur pour ce contact`."""
    kind, _, detail = (reason or "").partition(":")
    if kind in SKIPPED_AT_SEND:
        return SKIPPED_AT_SEND[kind]
    if kind == "expired":
        return "la campagne avait atteint sa date de fin avant cet envoi"
    if kind == "missing_variable":
        name = f"{{{{{detail}}}}}" if detail.isdigit() else detail
        return f"la variable {name} du modèle n'a pas de valeur pour ce contact"
    return reason or ""


ATTRIBUTE = {"type_assure": "Type d'assuré", "agence": "Agence", "employeur": "Employeur", "secteur": "Secteur",
             "numero_assure": "Numéro d'assuré", "matricule": "Matricule", "province": "Province", "ville": "Ville"}


def attribute(key: str) -> str:
    """A contact attribute's name as a reader says it: `type_assure` -> « Type d'assuré », an unknown
    `date_naissance` -> « Date naissance » (the key stays what the import file called it)."""
    return ATTRIBUTE.get(key) or key.replace("_", " ").strip().capitalize() or key
