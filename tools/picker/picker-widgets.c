/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Widget helpers shared by the request and the decisions windows. */
#include "picker-widgets.h"

GtkWidget *picker_label_new(const char *text, const char *css_class) {
        GtkWidget *label = gtk_label_new(text);

        gtk_label_set_xalign(GTK_LABEL(label), 0);
        gtk_label_set_wrap(GTK_LABEL(label), TRUE);
        gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
        if (css_class)
                gtk_widget_add_css_class(label, css_class);
        return label;
}

void picker_widget_set_margins(GtkWidget *widget, int vertical, int horizontal) {
        gtk_widget_set_margin_top(widget, vertical);
        gtk_widget_set_margin_bottom(widget, vertical);
        gtk_widget_set_margin_start(widget, horizontal);
        gtk_widget_set_margin_end(widget, horizontal);
}

GtkWidget *picker_button_new(const char *mnemonic, const char *name, const char *tooltip) {
        GtkWidget *button = gtk_button_new_with_mnemonic(mnemonic);

        if (tooltip)
                gtk_widget_set_tooltip_text(button, tooltip);
        /* GTK 4.8 reads a button as its raw label (underscore included) followed by the
         * text of the mnemonic label that labels it: the name says it once instead. */
        gtk_accessible_update_property(GTK_ACCESSIBLE(button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                       name, -1);
        gtk_accessible_reset_relation(GTK_ACCESSIBLE(button),
                                      GTK_ACCESSIBLE_RELATION_LABELLED_BY);
        return button;
}
